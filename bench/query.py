"""Query benchmark: how fast paperbot answers once papers are indexed, at 150, 10k and 100k papers.

Why: every user-facing command runs on the query path, and the ingest benchmark
says nothing about it.  Autocomplete runs on every keystroke of ``/paper`` (Discord
drops choices that take longer than a few hundred ms end to end, so the engine's
share must be small), and ``/ask`` must answer before the interaction times out.
This measures, on the real engine with the real offline model and a real Chroma
store, the p50/p95 latency of:

* ``search`` in hybrid, BM25-only and dense-only mode (``Engine.search``, k=10);
* ``/paper`` lookup (``Engine.find_papers``): titles, partial titles, typos,
  arXiv ids and links, keywords, method names;
* autocomplete (``Engine.autocomplete``): 1-12 character prefixes of real titles,
  prefixes with a typo, and word starts inside titles;
* the extractive answer (``Engine.ask`` with no LLM configured).

Targets at 10k papers: autocomplete p95 <= 50 ms, extractive ask p95 <= 250 ms.

It also times what a (re)started bot pays before its first answer: cold (no
snapshot of the current catalogue version: catalogue read from Chroma, BM25 and
lookup index build, snapshot saved) and warm (the snapshot loaded), the first
dense query that loads the HNSW index, and what a running bot pays to refresh
after another process's ingest; and it checks that Chroma's approximate HNSW search loses nothing that
matters: recall@10 of the papers ``search(mode="dense")`` returns against an exact
brute-force cosine search over every vector in the collection (target >= 0.98).

Corpora: ``shared`` is the two shared digests (150 papers; ``150`` is accepted as
its alias); a number N is a synthetic corpus from ``bench/synth.py``.  Built
indexes are cached in ``bench/out/index-<name>/`` (git-ignored): a re-run calls
ingest again, which finds every paper unchanged and embeds nothing.  A first
10k build embeds 10k chunks at ~10-40 chunks/s on a 2-core box: minutes.  A
100k index takes about an hour, so it is never built here: run
``bench/ingest.py --sizes 100000`` first (it also records that first ingest).

Prints markdown tables and saves ``bench/out/query.png`` (p50/p95 per operation
and corpus size; needs the ``bench`` extra, ``make bench-deps``).

Run from the repo root::

    .venv-dev/bin/python bench/query.py [--sizes shared,10000,100000] [--papers N] [--repeat 2]
                                        [--profile ask,autocomplete] [--seed 0]
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from bench import synth  # noqa: E402
from config import Settings  # noqa: E402
from index.engine import Engine  # noqa: E402
from index.models import Paper  # noqa: E402

DIGESTS_DIR = REPO_ROOT.parent / "shared" / "data" / "digests"
SHARED_DIGESTS = (
    DIGESTS_DIR / "weekly-digest-2024-08-26_2024-10-06.md",
    DIGESTS_DIR / "papers-table-2024-06-29_2024-07-31.md",
)
OUT_DIR = REPO_ROOT / "bench" / "out"
OPERATIONS = ("search hybrid", "search bm25", "search dense", "lookup", "autocomplete", "ask")
#: (operation, smallest corpus it applies to) → p95 target in ms.
TARGETS_MS = {"autocomplete": 50.0, "ask": 250.0}
TARGET_FROM_PAPERS = 10_000
TARGET_RECALL = 0.98
#: Larger synthetic indexes are built only by bench/ingest.py.
MAX_BUILD_PAPERS = 10_000
#: Start-up steps the summary reports (see run_size).
COLD_STEP = "cold: read catalogue from Chroma, build BM25 + lookup, save snapshot"
WARM_STEP = "warm: load the catalogue snapshot (a new engine)"
REFRESH_STEP = "refresh after a new catalogue version: check, rebuild, swap"
RECALL_K = 10
_GET_PAGE = 2000

log = logging.getLogger("bench.query")

# -- queries ---------------------------------------------------------------------------------
#: Questions about the shared digests, as people would ask them, plus a few off-topic ones.
SHARED_QUESTIONS = [
    "What is VPTQ?",
    "extreme low-bit quantization of LLM weights",
    "How does Movie Gen generate videos with synchronized audio?",
    "papers from Meta",
    "What did Apple publish?",
    "Are RNNs enough compared to transformers?",
    "how well does OpenAI o1 do in medicine",
    "Can o1 plan? results on PlanBench",
    "long-context benchmarks that go beyond needle in a haystack",
    "Does chain-of-thought help outside math and symbolic reasoning?",
    "an open mixture-of-experts language model",
    "time series foundation model with mixture of experts",
    "reward hacking during reward model training",
    "how do LLMs learn to mislead humans through RLHF",
    "training language models to self-correct with reinforcement learning",
    "reward modeling as next-token prediction",
    "distilling transformers into Mamba hybrid models",
    "contextual document embeddings for retrieval",
    "HNSW vs flat vs inverted indexes for dense and sparse retrievers",
    "multilingual late interaction retriever",
    "safety gaps when fine-tuning LLMs",
    "backtracking to make generation safer",
    "mitigating hallucinations in vision-language models",
    "Are LLM hallucinations inevitable?",
    "can LLMs generate novel research ideas?",
    "agents that reproduce research code from repositories",
    "how far are data science agents from experts",
    "agent workflow memory for web navigation",
    "synthetic continued pretraining on a small corpus",
    "synthetic data generation grounded in real data sources",
    "the Llama 3 herd of models",
    "Qwen2 audio model technical report",
    "pruning and knowledge distillation for compact language models",
    "dynamic token pruning for long context inference",
    "scaling laws for vocabulary size",
    "knowledge unlearning in large language models",
    "episodic memory for infinite context LLMs",
    "privacy norm awareness of language model agents",
    "insights from multimodal LLM fine-tuning",
    "mixture of vision encoders in multimodal LLMs",
    "Molmo open weights and open data",
    "frontier-class open multimodal LLMs from Nvidia",
    "compositionality problems of CLIP",
    "selective attention improves transformers",
    "softmax is not sharp out of distribution",
    "large language models as Markov chains",
    "memorization versus generalization complexity in LLMs",
    "grounding code LLMs in execution feedback",
    "credit assignment for RL on LLM reasoning",
    "multi-turn preference learning for math agents",
    "a unified end-to-end OCR model",
    "using LLMs for log parsing",
    "table-augmented generation beyond Text2SQL",
    "approximating transformer gradients in almost linear time",
    "unified evaluation of retrieval-augmented generation",
    "papers from Google about reasoning",
    "What did Microsoft publish?",
    "What is the Kolmogorov-Arnold Transformer?",
    "Can AI dialogues reduce conspiracy beliefs?",
    "weak LLMs judging strong LLMs for scalable oversight",
    "content moderation model based on Gemma",
    "What's the best pizza in Naples?",
    "how do I train my dog to sit",
    "who won the 2018 football world cup",
    "what will the Nvidia stock price be tomorrow",
]

OFF_TOPIC = [
    "What's the best pizza in Naples?",
    "how do I bake sourdough bread",
    "who won the 2018 football world cup",
    "cheap flights to Lisbon in May",
    "how to fix a leaking kitchen tap",
]


def _lower(text: str) -> str:
    return text[0].lower() + text[1:] if text else text


def method_names(papers: Sequence[Paper]) -> list[tuple[str, Paper]]:
    """Method names that open titles ("ZRX-7: ..."), with their paper."""
    out = []
    for p in papers:
        m = re.match(r"^([A-Za-z0-9.+-]{2,20}):\s", p.title)
        if m:
            out.append((m.group(1), p))
    return out


def synthetic_questions(papers: Sequence[Paper], rng: random.Random, n: int = 80) -> list[str]:
    """Varied questions over a synthetic corpus: method names, paraphrases of its
    vocabulary, organisation and benchmark questions, titles, and off-topic ones."""
    methods = method_names(papers)
    forms: list[Callable[[], str]] = [
        lambda: f"What is {rng.choice(methods)[0]}?",
        lambda: f"how does {rng.choice(methods)[0]} work",
        lambda: f"{rng.choice(synth.TECHNIQUES).lower()} for {rng.choice(synth.TASKS).lower()}",
        lambda: (f"which papers use {rng.choice(synth.TECHNIQUES).lower()} to improve "
                 f"{rng.choice(synth.TASKS).lower()} in {rng.choice(synth.MODELS).lower()}?"),
        lambda: f"papers from {rng.choice(synth.ORGS)}",
        lambda: f"what did {rng.choice(synth.ORGS)} publish about {rng.choice(synth.TASKS).lower()}?",
        lambda: f"which methods beat {rng.choice(synth.BASELINES)} on {rng.choice(synth.BENCHMARKS)}?",
        lambda: f"how can {rng.choice(synth.MODELS).lower()} get better at {rng.choice(synth.TASKS).lower()}",
        lambda: f"summarize the paper {rng.choice(papers).title}",
        lambda: f"{_lower(rng.choice(synth.ADJECTIVES))} {rng.choice(synth.TECHNIQUES).lower()}",
        lambda: f"is it true that {rng.choice(synth.FINDINGS)}?",
    ]
    if not methods:
        forms = forms[2:]
    questions = [rng.choice(forms)() for _ in range(n - len(OFF_TOPIC))]
    return questions + list(OFF_TOPIC)


@dataclass(frozen=True)
class Probe:
    """One lookup or autocomplete input, the paper it was made from, and its kind."""

    kind: str
    text: str
    expected: str | None = None


def _typo(text: str, rng: random.Random, count: int = 1) -> str:
    """Realistic slips: swap two neighbours, drop, double or replace a letter."""
    chars = list(text)
    for _ in range(count):
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        if len(letters) < 3:
            break
        i = rng.choice(letters[1:])
        op = rng.randrange(4)
        if op == 0 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == 1:
            del chars[i]
        elif op == 2:
            chars.insert(i, chars[i])
        else:
            chars[i] = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return "".join(chars)


_STOP = frozenset("a an the of for in on with to via and is are all do does can we you it".split())


def lookup_probes(papers: Sequence[Paper], rng: random.Random, n: int = 84) -> list[Probe]:
    """``/paper`` inputs made from real catalogue entries, seven kinds in turn."""
    sample = rng.sample(list(papers), min(len(papers), n))
    methods = {p.paper_id: name for name, p in method_names(papers)}
    probes = []
    for i, p in enumerate(sample):
        kind = ("title", "partial", "typo", "arxiv id", "arxiv url", "keywords", "method")[i % 7]
        words = p.title.split()
        if kind in ("arxiv id", "arxiv url") and not p.arxiv_id:
            kind = "title"
        if kind == "method" and p.paper_id not in methods:
            kind = "typo"
        if kind == "title":
            text = p.title
        elif kind == "partial":
            text = " ".join(words[: min(len(words), rng.randint(3, 5))]).lower()
        elif kind == "typo":
            text = _typo(p.title, rng, 2)
        elif kind == "arxiv id":
            text = p.arxiv_id or ""
        elif kind == "arxiv url":
            text = f"https://arxiv.org/pdf/{p.arxiv_id}v{rng.randint(1, 3)}"
        elif kind == "keywords":
            content = [w.strip(":?,").lower() for w in words if w.strip(":?,").lower() not in _STOP]
            text = " ".join(rng.sample(content, min(3, len(content))))
        else:
            text = methods[p.paper_id]
        probes.append(Probe(kind, text, p.paper_id))
    return probes


def autocomplete_probes(papers: Sequence[Paper], rng: random.Random, n: int = 240) -> list[Probe]:
    """Partial inputs as they are typed: title prefixes of 1-12 characters, the same
    with a typo (5+ characters), and the start of a word inside a title."""
    probes = []
    pool = list(papers)
    for i in range(n):
        p = rng.choice(pool)
        length = 1 + i % 12
        if i % 4 == 3:
            word_starts = [m.start() for m in re.finditer(r"(?<=\s)\w", p.title)]
            start = rng.choice(word_starts) if word_starts else 0
            probes.append(Probe("word inside", p.title[start : start + max(length, 4)], p.paper_id))
        elif i % 4 == 2 and length >= 5:
            probes.append(Probe("prefix+typo", _typo(p.title[:length], rng), p.paper_id))
        else:
            probes.append(Probe(f"prefix {length}", p.title[:length], p.paper_id))
    return probes


# -- timing ---------------------------------------------------------------------------------
@dataclass
class Timing:
    name: str
    ms: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        if not self.ms:
            return float("nan")
        ordered = sorted(self.ms)
        # Nearest-rank percentile: p95 of 80 samples is the 76th smallest.
        rank = max(1, int(np.ceil(q / 100.0 * len(ordered))))
        return ordered[rank - 1]

    @property
    def p50(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")

    @property
    def p95(self) -> float:
        return self.pct(95)


def time_calls(name: str, fn: Callable[[Any], Any], inputs: Sequence[Any], repeat: int) -> tuple[Timing, list[Any]]:
    """Call ``fn`` on every input ``repeat`` times; return the timings and the first results."""
    for x in inputs[:3]:  # warm caches (regexes, stemmer, sessions) outside the timing
        fn(x)
    timing = Timing(name)
    results: list[Any] = []
    gc.collect()
    for r in range(repeat):
        for x in inputs:
            started = time.perf_counter()
            out = fn(x)
            timing.ms.append((time.perf_counter() - started) * 1000.0)
            if r == 0:
                results.append(out)
    return timing, results


def profile(fn: Callable[[Any], Any], inputs: Sequence[Any], top: int = 15) -> str:
    """cProfile of ``fn`` over all inputs: the top functions by cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    for x in inputs:
        fn(x)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    text = buf.getvalue()
    # Keep the table, drop pstats' preamble; shorten paths to the repo / site-packages.
    lines = [ln for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    head = [ln for ln in lines[:start] if "function calls" in ln]
    body = [re.sub(r"\S*/(site-packages|work/main)/", "", ln) for ln in lines[start:]]
    return "\n".join(head + body)


# -- corpora and indexes ----------------------------------------------------------------------
@dataclass
class Corpus:
    name: str  # "shared" or the synthetic paper count
    specs: list[str]
    data_dir: Path
    synthetic: bool


def corpus_for(size: str, seed: int, building: bool = False) -> Corpus:
    """The corpus of ``size``; a synthetic one over MAX_BUILD_PAPERS must be built
    already unless ``building`` (bench/ingest.py, which times that build)."""
    if size in ("shared", "150"):
        missing = [str(p) for p in SHARED_DIGESTS if not p.exists()]
        if missing:
            raise SystemExit(f"shared digests not found: {', '.join(missing)}")
        return Corpus("shared", [str(p) for p in SHARED_DIGESTS], OUT_DIR / "index-shared", False)
    n = int(size)
    suffix = "" if seed == 0 else f"-seed{seed}"
    data_dir = OUT_DIR / f"index-{n}{suffix}"
    if n > MAX_BUILD_PAPERS and not building and not (data_dir / "chroma").is_dir():
        raise SystemExit(f"no index of {n} papers in {data_dir}: building one takes about an hour here, "
                         f"so run `bench/ingest.py --sizes {n}` first")
    files = synth.write_corpus(data_dir / "digests", n, seed)
    return Corpus(str(n), [str(f) for f in files], data_dir, True)


def make_engine(data_dir: Path) -> Engine:
    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))


def progress_printer(name: str, started: float) -> Callable[[int, int], None]:
    """Ingest progress on stderr every 5% (a 100k first ingest runs for an hour)."""
    state = {"next": 0.0}

    def report(done: int, total: int) -> None:
        if done / total >= state["next"] or done == total:
            elapsed = time.perf_counter() - started
            print(f"  [{name}] ingest {done}/{total} papers, {elapsed:.0f} s, "
                  f"{done / max(elapsed, 1e-9):.1f} papers/s", file=sys.stderr, flush=True)
            state["next"] = done / total + 0.05

    return report


# -- HNSW recall ---------------------------------------------------------------------------------
@dataclass
class Recall:
    queries: int = 0
    paper_recall: float = float("nan")
    paper_min: float = float("nan")
    short_results: int = 0
    chunk_recall: float = float("nan")
    chunks: int = 0
    fetch_s: float = 0.0
    exact_ms: float = float("nan")
    hnsw: str = ""


def hnsw_recall(engine: Engine, queries: Sequence[str]) -> Recall:
    """Dense search against exact cosine over every stored vector.

    Paper level: the papers ``search(mode="dense", k=10)`` returns vs the 10 papers
    whose best chunk is most similar (what the retriever would return with exact
    search).  Chunk level: Chroma's top-60 chunks (what ``search`` asks Chroma for)
    vs the exact top 60, which isolates the HNSW index from the grouping.
    """
    from index.retrieve import DENSE_CHUNKS

    coll = engine.store.collection
    started = time.perf_counter()
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    owners: list[str] = []
    offset = 0
    while True:
        page = coll.get(include=["embeddings", "metadatas"], limit=_GET_PAGE, offset=offset)
        if not page["ids"]:
            break
        ids.extend(page["ids"])
        vectors.append(np.asarray(page["embeddings"], dtype=np.float32).reshape(len(page["ids"]), -1))
        owners.extend(str((m or {}).get("paper_id", "")) for m in page["metadatas"])
        if len(page["ids"]) < _GET_PAGE:
            break
        offset += _GET_PAGE
    fetch_s = time.perf_counter() - started
    matrix = np.concatenate([v for v in vectors if v.size], axis=0)
    matrix /= np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
    owner = np.asarray(owners)
    id_arr = np.asarray(ids)
    rec = Recall(chunks=len(ids), fetch_s=fetch_s, hnsw=_hnsw_config(coll))
    paper_scores, chunk_scores, exact_ms = [], [], []
    n_chunks = min(DENSE_CHUNKS, len(ids))
    for q in queries:
        v = np.asarray(_query_vector(engine, q), dtype=np.float32)
        v /= max(float(np.linalg.norm(v)), 1e-12)
        t0 = time.perf_counter()
        sims = matrix @ v
        order = np.argsort(-sims, kind="stable")
        exact_papers: list[str] = []
        for i in order:
            if owner[i] not in exact_papers:
                exact_papers.append(owner[i])
                if len(exact_papers) == RECALL_K:
                    break
        exact_ms.append((time.perf_counter() - t0) * 1000.0)
        exact_chunks = set(id_arr[order[:n_chunks]])
        got = coll.query(query_embeddings=[v.tolist()], n_results=n_chunks, include=[])
        chunk_scores.append(len(exact_chunks & set(got["ids"][0])) / max(len(exact_chunks), 1))
        dense = [h.paper.paper_id for h in engine.search(q, k=RECALL_K, mode="dense")]
        if len(dense) < min(RECALL_K, len(exact_papers)):
            rec.short_results += 1
        paper_scores.append(len(set(dense) & set(exact_papers)) / max(len(exact_papers), 1))
    rec.queries = len(queries)
    rec.paper_recall = float(np.mean(paper_scores))
    rec.paper_min = float(np.min(paper_scores))
    rec.chunk_recall = float(np.mean(chunk_scores))
    rec.exact_ms = statistics.median(exact_ms)
    return rec


def _query_vector(engine: Engine, query: str) -> list[float]:
    """The vector the retriever searches with for ``query``."""
    try:
        from index.embedding import embed_query
    except ImportError:  # older engine: the LlamaIndex adapter embeds queries
        return engine.embed_model.get_query_embedding(query)
    return embed_query(query)


def _hnsw_config(coll: Any) -> str:
    """The collection's HNSW settings as Chroma reports them (best effort)."""
    for attr in ("configuration_json", "configuration"):
        try:
            conf = getattr(coll, attr)
        except Exception:  # noqa: BLE001 - differs across Chroma versions
            continue
        if conf:
            hnsw = conf.get("hnsw") if isinstance(conf, dict) else None
            if hnsw:
                keys = ("space", "ef_search", "ef_construction", "max_neighbors")
                return ", ".join(f"{k}={hnsw[k]}" for k in keys if k in hnsw)
    return str(coll.metadata or "")


# -- one corpus ---------------------------------------------------------------------------------
@dataclass
class SizeResult:
    corpus: Corpus
    papers: int = 0
    chunks: int = 0
    ingest_s: float = 0.0
    ingest_new: int = 0
    ingest_unchanged: int = 0
    startup: list[tuple[str, float]] = field(default_factory=list)
    timings: dict[str, Timing] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    quality: list[str] = field(default_factory=list)
    recall: Recall | None = None
    profiles: dict[str, str] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)


def run_size(corpus: Corpus, seed: int, repeat: int, profile_ops: set[str]) -> SizeResult:
    res = SizeResult(corpus)
    res.load.append(_load())
    engine = make_engine(corpus.data_dir)
    print(f"[{corpus.name}] ingesting {len(corpus.specs)} digest file(s) into {corpus.data_dir}",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    report = engine.ingest(corpus.specs, progress=progress_printer(corpus.name, started))
    res.ingest_s = time.perf_counter() - started
    res.ingest_new, res.ingest_unchanged = report.new + report.updated, report.unchanged
    print(f"[{corpus.name}] ingest: {report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
          f"{len(report.skipped)} skipped in {res.ingest_s:.1f} s", file=sys.stderr, flush=True)

    # A restarted bot: a new engine on the same data dir pays these before its first answer.
    # Cold: no snapshot of the current catalogue version yet (the first process after
    # an ingest); warm: the snapshot that cold start saved (every later start).
    engine = make_engine(corpus.data_dir)
    engine.snapshot_path.unlink(missing_ok=True)
    warm = make_engine(corpus.data_dir)
    for step, fn in (
        ("open store + count chunks", lambda: engine.store.count_chunks()),
        ("read the catalogue version (collection metadata)", engine.catalogue_version),
        (COLD_STEP, engine.catalogue),
        (WARM_STEP, warm.catalogue),
        ("first dense query (loads HNSW + embeds)", lambda: engine.search("warm up the index", mode="dense")),
    ):
        t0 = time.perf_counter()
        fn()
        res.startup.append((step, (time.perf_counter() - t0) * 1000.0))
    # Another process's ingest as a running bot sees it: a new version, then the
    # watcher's check, rebuild and swap (the staleness bound is the check interval
    # plus this).  Only the version is stamped, so the cached index is unchanged.
    engine.store.stamp_catalogue_version()
    t0 = time.perf_counter()
    warm.sync_catalogue()
    res.startup.append((REFRESH_STEP, (time.perf_counter() - t0) * 1000.0))
    engine = warm  # at the current version: no miss below triggers a refresh of its own
    papers = engine.papers()
    res.papers = len(papers)
    res.chunks = engine.store.count_chunks()

    rng = random.Random(seed)
    questions = SHARED_QUESTIONS if not corpus.synthetic else synthetic_questions(papers, rng)
    lookups = lookup_probes(papers, rng)
    completions = autocomplete_probes(papers, rng)
    print(f"[{corpus.name}] timing {len(questions)} questions, {len(lookups)} lookups, "
          f"{len(completions)} autocomplete inputs", file=sys.stderr, flush=True)

    ops: dict[str, tuple[Callable[[Any], Any], list[Any], int]] = {
        "search hybrid": (lambda q: engine.search(q, k=10, mode="hybrid"), list(questions), repeat),
        "search bm25": (lambda q: engine.search(q, k=10, mode="bm25"), list(questions), repeat),
        "search dense": (lambda q: engine.search(q, k=10, mode="dense"), list(questions), repeat),
        "lookup": (lambda p: engine.find_papers(p.text), lookups, repeat),
        "autocomplete": (lambda p: engine.autocomplete(p.text), completions, repeat),
        "ask": (lambda q: engine.ask(q), list(questions), repeat),
    }
    results: dict[str, list[Any]] = {}
    for name, (fn, inputs, reps) in ops.items():
        res.timings[name], results[name] = time_calls(name, fn, inputs, reps)
        res.inputs[name] = len(inputs)
    res.load.append(_load())
    res.quality = quality_lines(lookups, results["lookup"], completions, results["autocomplete"], results["ask"])

    print(f"[{corpus.name}] HNSW recall vs exact cosine", file=sys.stderr, flush=True)
    res.recall = hnsw_recall(engine, questions)

    missed = {op for op in TARGETS_MS if _verdict(res, op) == "MISSED"}
    for op in sorted(profile_ops | missed):
        fn, inputs, _ = ops[op]
        res.profiles[op] = profile(fn, inputs)
    return res


def _load() -> float:
    """The 1-minute load average: on a shared 2-core VM, numbers taken above ~2 are inflated."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def quality_lines(lookups: Sequence[Probe], found: Sequence[Any], completions: Sequence[Probe],
                  choices: Sequence[Any], answers: Sequence[Any]) -> list[str]:
    """Side checks that the fast paths still find the right thing."""
    rows = ["| check | kind | inputs | found @1 | found in results |", "|---|---|---:|---:|---:|"]
    kinds: dict[str, list[tuple[bool, bool]]] = {}
    for probe, matches in zip(lookups, found):
        ids = [m.paper.paper_id for m in matches]
        kinds.setdefault(probe.kind, []).append((bool(ids) and ids[0] == probe.expected, probe.expected in ids))
    for kind, marks in kinds.items():
        rows.append(f"| lookup (top 5) | {kind} | {len(marks)} | {_pct(m[0] for m in marks)} | {_pct(m[1] for m in marks)} |")
    groups: dict[str, list[tuple[bool, bool]]] = {}
    for probe, got in zip(completions, choices):
        ids = [pid for _label, pid in got]
        if probe.kind.startswith("prefix "):
            length = int(probe.kind.split()[1])
            kind = "prefix 1-4" if length <= 4 else "prefix 5-8" if length <= 8 else "prefix 9-12"
        else:
            kind = probe.kind
        groups.setdefault(kind, []).append((bool(ids) and ids[0] == probe.expected, probe.expected in ids))
    for kind in sorted(groups):
        marks = groups[kind]
        rows.append(f"| autocomplete (25) | {kind} | {len(marks)} | {_pct(m[0] for m in marks)} | {_pct(m[1] for m in marks)} |")
    abstained = sum(1 for a in answers if a.abstained)
    rows.append(f"| ask | abstained | {len(answers)} | {abstained} abstained | {len(answers) - abstained} answered |")
    return rows


def _pct(marks: Any) -> str:
    marks = list(marks)
    return f"{100.0 * sum(marks) / len(marks):.0f}%" if marks else "–"


def _target(res: SizeResult, op: str) -> float | None:
    if op in TARGETS_MS and res.corpus.synthetic and res.papers >= TARGET_FROM_PAPERS:
        return TARGETS_MS[op]
    return None


def _verdict(res: SizeResult, op: str) -> str:
    target = _target(res, op)
    if target is None:
        return ""
    return "OK" if res.timings[op].p95 <= target else "MISSED"


# -- output ---------------------------------------------------------------------------------------
def render_size(res: SizeResult) -> str:
    c = res.corpus
    title = "shared digests" if not c.synthetic else f"synthetic corpus ({c.name} papers)"
    lines = [f"## {title}: {res.papers} papers, {res.chunks} chunks ({res.chunks / max(res.papers, 1):.2f}/paper)", ""]
    if res.ingest_new:
        lines.append(
            f"ingest (built now): {res.ingest_new} papers embedded in {res.ingest_s:.1f} s = "
            f"{res.ingest_new / res.ingest_s:.1f} papers/s, {res.chunks / res.ingest_s:.1f} chunks/s"
        )
    else:
        lines.append(f"ingest (cached index in {c.data_dir.relative_to(REPO_ROOT)}): "
                     f"{res.ingest_unchanged} unchanged, re-ingest took {res.ingest_s:.1f} s")
    lines.append(
        f"machine load (1-min average; {os.cpu_count()} cores): {res.load[0]:.1f} before ingest, "
        f"{res.load[-1]:.1f} after the latency runs"
    )
    lines += ["", "Start-up (a new Engine on this data dir, in order):", "",
              "| step | ms |", "|---|---:|"]
    lines += [f"| {step} | {ms:.0f} |" for step, ms in res.startup]
    lines.append("")
    lines += ["| operation | inputs x repeat | p50 ms | p95 ms | max ms | mean ms | target p95 | verdict |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for op in OPERATIONS:
        t = res.timings[op]
        target = _target(res, op)
        lines.append(
            f"| {op} | {res.inputs[op]} x {len(t.ms) // max(res.inputs[op], 1)} | {t.p50:.1f} | {t.p95:.1f} | "
            f"{max(t.ms):.1f} | {statistics.fmean(t.ms):.1f} | {f'<= {target:.0f}' if target else '–'} | "
            f"{_verdict(res, op) or '–'} |"
        )
    lines += ["", *res.quality]
    r = res.recall
    if r is not None:
        verdict = "OK" if r.paper_recall >= TARGET_RECALL else "MISSED"
        lines += [
            "",
            f"Dense search vs exact cosine over all {r.chunks} stored vectors (fetched in {r.fetch_s:.1f} s; "
            f"HNSW: {r.hnsw or 'defaults'}):",
            "",
            "| queries | paper recall@10 (search, dense) | worst query | results with < 10 papers | "
            "chunk recall@60 (Chroma query) | exact numpy top-10 ms | target | verdict |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {r.queries} | {r.paper_recall:.3f} | {r.paper_min:.2f} | {r.short_results} | {r.chunk_recall:.3f} | "
            f"{r.exact_ms:.1f} | >= {TARGET_RECALL} | {verdict} |",
        ]
    for op, text in res.profiles.items():
        lines += ["", f"cProfile of {op} over its {res.inputs[op]} inputs (top by cumulative time):", "",
                  "```", text, "```"]
    return "\n".join(lines)


def render_summary(results: Sequence[SizeResult]) -> str:
    head = "| operation | " + " | ".join(f"{r.corpus.name} p50 / p95 ms" for r in results) + " | target p95 (10k) |"
    lines = ["## Summary", "", head, "|---|" + "---:|" * len(results) + "---|"]
    for op in OPERATIONS:
        cells = []
        for r in results:
            t = r.timings[op]
            v = _verdict(r, op)
            cells.append(f"{t.p50:.1f} / {t.p95:.1f}" + (f" {v}" if v else ""))
        target = TARGETS_MS.get(op)
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {f'<= {target:.0f} ms' if target else '–'} |")
    for label, step in (("catalogue at start, cold ms", COLD_STEP), ("catalogue at start, from snapshot ms", WARM_STEP),
                        ("refresh after another process's ingest ms", REFRESH_STEP)):
        lines.append(f"| {label} | " + " | ".join(f"{dict(r.startup).get(step, float('nan')):.0f}" for r in results)
                     + " | – |")
    lines.append("| dense recall@10 vs exact | " + " | ".join(
        f"{r.recall.paper_recall:.3f}" if r.recall else "–" for r in results) + f" | >= {TARGET_RECALL} |")
    return "\n".join(lines)


def parse_sizes(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """A ``--sizes`` value of the bench scripts: 'shared' (alias 150) and/or positive paper counts."""
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    for s in sizes:
        if s not in ("shared", "150") and not (s.isdigit() and int(s) > 0):
            parser.error(f"--sizes: {s!r} is neither 'shared' nor a positive paper count")
    if not sizes:
        parser.error("--sizes: no corpus given")
    return sizes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=None,
                        help="comma-separated corpora: 'shared' (alias 150) or a synthetic paper count "
                             "(default: shared,10000)")
    parser.add_argument("--papers", type=int, default=10_000,
                        help="synthetic corpus size when --sizes is not given (default 10000)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over each input list (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpus and the query sample")
    parser.add_argument("--profile", default="", help=f"comma-separated operations to cProfile ({', '.join(OPERATIONS)}); "
                        "operations that miss a target are always profiled")
    args = parser.parse_args(argv)
    args.sizes = parse_sizes(parser, args.sizes or f"shared,{args.papers}")
    args.profile = {p.strip() for p in args.profile.split(",") if p.strip()}
    unknown = args.profile - set(OPERATIONS)
    if unknown:
        parser.error(f"--profile: unknown operation(s) {', '.join(sorted(unknown))}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    from index.embedding import embed_batch

    t0 = time.perf_counter()
    embed_batch(["warm up"])  # the ONNX model is a per-process singleton
    model_load = time.perf_counter() - t0

    results = []
    for size in args.sizes:
        corpus = corpus_for(size, args.seed)
        results.append(run_size(corpus, args.seed, args.repeat, args.profile))
        print(render_size(results[-1]), flush=True)
        print(flush=True)
    print(f"model load (once, excluded): {model_load:.2f} s; {args.repeat} pass(es) over each input list; "
          f"nearest-rank percentiles; extractive answers (no LLM)")
    print()
    print(render_summary(results))
    png = plot(results, args.repeat)
    if png is not None:
        print(f"\nplot: {png.relative_to(REPO_ROOT)}")
    return 0


def plot(results: Sequence[SizeResult], repeat: int) -> Path | None:
    """``bench/out/query.png``: p50/p95 of each operation, one bar per corpus size."""
    from bench.plots import latency_plot

    series = {
        (f"{r.papers:,} papers" + (" (shared)" if not r.corpus.synthetic else "")): {
            op: (r.timings[op].p50, r.timings[op].p95) for op in OPERATIONS
        }
        for r in results
    }
    loads = ", ".join(f"{r.load[-1]:.1f}" for r in results)
    return latency_plot(
        OUT_DIR / "query.png",
        "paperbot query latency (extractive answers, offline model, embedded Chroma)",
        OPERATIONS,
        series,
        targets_ms=TARGETS_MS,
        note=f"{os.cpu_count()} cores; {repeat} pass(es) per input list; 1-min load after runs: {loads}; "
             f"targets apply at {TARGET_FROM_PAPERS:,} papers",
    )


if __name__ == "__main__":
    sys.exit(main())
