"""The benchmark corpus and its stand-in vectors (bench/synth.py, bench/standin.py).

The benches' numbers mean what users see only if the synthetic corpus has the
shape of real digests: as many chunks per paper as the shared digests give with
the pipeline's own chunking (2.75, measured once; the shared digests are not
needed here).  The one-chunk ``short`` shape stays available, unchanged, for
comparison with tables measured before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import synth
from bench.common import STANDIN_LABEL, Corpus, index_dir
from bench.standin import DIMENSIONS, StandInEmbedding, is_standin, mark
from index import parse_sources

PAPERS = 300


def _papers(folder: Path, shape: str, seed: int = 0) -> list:
    files = synth.write_corpus(folder, PAPERS, seed, shape=shape)
    parsed = parse_sources([str(f) for f in files], max_bytes=20 * 1024 * 1024, timeout=5.0)
    assert not parsed.skipped
    assert len(parsed.papers) == PAPERS
    return parsed.papers


def test_realistic_shape_has_the_shared_digests_chunks_per_paper(tmp_path: Path) -> None:
    shape = synth.measure_shape(_papers(tmp_path, "realistic"))
    assert shape.chunks_per_paper == pytest.approx(synth.SHARED_CHUNKS_PER_PAPER, rel=0.10)
    assert len(set(shape.chunks)) >= 3, "lengths vary like the shared digests', not one size for all"
    low, high = synth.SHARED_WORD_QUANTILES[0], synth.SHARED_WORD_QUANTILES[-1]
    assert all(low - 10 <= w <= high for w in shape.words)


def test_short_shape_is_one_chunk_per_paper(tmp_path: Path) -> None:
    shape = synth.measure_shape(_papers(tmp_path, "short"))
    assert set(shape.chunks) == {1}
    assert synth.MIN_WORDS <= sorted(shape.words)[len(shape.words) // 2] <= synth.MAX_WORDS


@pytest.mark.parametrize("shape", synth.SHAPES)
def test_corpus_is_deterministic_from_the_seed(tmp_path: Path, shape: str) -> None:
    def text(folder: Path, seed: int) -> str:
        return "".join(f.read_text(encoding="utf-8") for f in synth.write_corpus(folder, 120, seed, shape=shape))

    assert text(tmp_path / "a", 3) == text(tmp_path / "b", 3)
    assert text(tmp_path / "a", 3) != text(tmp_path / "c", 4)


def test_each_shape_and_kind_of_vectors_has_its_own_cache_folder() -> None:
    folders = {index_dir(10_000, shape=shape, standin=standin) for shape in synth.SHAPES for standin in (False, True)}
    assert len(folders) == 4
    assert index_dir(10_000, shape="short").name == "index-10000"  # the folder of tables before the shapes
    assert STANDIN_LABEL in Corpus("100000", [], index_dir(100_000, standin=True), True, standin=True).label


def test_standin_vectors_are_deterministic_unit_vectors_that_follow_shared_words(tmp_path: Path) -> None:
    texts = ["sparse attention for long-context reasoning in language models",
             "long-context reasoning with sparse attention",
             "protein design with diffusion models and flow matching"]
    vectors = np.array(StandInEmbedding().get_text_embedding_batch(texts))
    again = np.array([StandInEmbedding().get_text_embedding(t) for t in texts])
    assert vectors.shape == (3, DIMENSIONS)
    assert np.array_equal(vectors, again)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3

    assert not is_standin(tmp_path)
    mark(tmp_path)
    assert is_standin(tmp_path) and STANDIN_LABEL in (tmp_path / "STANDIN.txt").read_text(encoding="utf-8")


def test_startup_probes_are_new_papers_to_any_synthetic_corpus(tmp_path: Path) -> None:
    """bench/startup.py's staleness probes parse as one new paper each, never one a corpus already has."""
    from bench.startup import PAPER_PROBE, WATCHER_PROBE, probe_digest

    corpus_ids = {p.arxiv_id for p in synth.generate(2_000, 0)}
    for probe in (WATCHER_PROBE, PAPER_PROBE):
        parsed = parse_sources([str(probe_digest(tmp_path, probe))], max_bytes=1 << 20, timeout=5.0)
        assert [(p.arxiv_id, p.title) for p in parsed.papers] == [(probe.arxiv_id, probe.title)]
        assert probe.arxiv_id not in corpus_ids


def test_catalogue_origin_reads_the_engines_log_lines() -> None:
    from bench.memory import catalogue_origin

    assert catalogue_origin("... INFO index.snapshot: loaded the catalogue snapshot of 10 papers in 0.1 s") == "snapshot"
    assert catalogue_origin("... INFO index.engine: read 10 papers from the store in 1.0 s\n"
                            "... INFO index.snapshot: loaded the catalogue snapshot of 11 papers") == "store"
    assert catalogue_origin("nothing about catalogues") == "unknown"
