"""The test kit: fakes that speak real protocols on 127.0.0.1 and helpers the test modules share.

* :mod:`tests.support.discord`: a fake Discord (REST API and gateway) the real bot connects to;
* :mod:`tests.support.bot`: the real bot (in process or as ``paperbot run``) against that fake;
* :mod:`tests.support.replies`: reading what the bot sent (embeds, buttons, follow-ups, thread answers);
* :mod:`tests.support.announce`: the announcement cog's clock and settled start;
* :mod:`tests.support.fake_openai`: an OpenAI-compatible chat endpoint;
* :mod:`tests.support.digest_host`: a static digest host with ETag / Last-Modified, and small digests;
* :mod:`tests.support.chroma`: a real ``chroma run`` on a free port;
* :mod:`tests.support.digests`: small corpora (a three-paper digest, synthetic ``Paper`` records);
* :mod:`tests.support.embedding`: a tiny deterministic embedding for pipeline tests.

Fixtures live in ``tests/conftest.py``; no test module imports another.
"""
