"""Benchmarks and the answer-quality evaluation: scripts that print markdown tables
(and PNG plots in ``bench/out/``), run from the repo root as ``python -m bench.<name>``
(the Makefile's ``bench-*`` and ``eval`` targets).  What they share is in
:mod:`bench.common` (paths, corpora, ``--sizes``, progress, timing) and
:mod:`bench.workload` (the questions and lookup inputs they measure with)."""
