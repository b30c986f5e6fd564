"""Synthetic digest corpus: N made-up papers as markdown weekly digests, for scale runs.

Why: the shared digests hold 150 papers, which says nothing about how search,
``/paper`` lookup, autocomplete and answers behave at 10k or 100k papers, and this
box cannot download a bigger real corpus.  This writes one in the exact shape
``index/digests.py`` already parses, deterministically from a seed, so the same
arguments always give byte-identical files (and a re-ingest of them is a no-op):

* ``## Week of Sep 30 – Oct 6, 2024`` headings, newest week first, several weeks
  per file (``synthetic-digest-<first monday>_<last sunday>.md``);
* numbered items ``1. **[Title](https://arxiv.org/abs/YYMM.NNNNN)**: summary``,
  numbering restarting per week, arXiv ids unique and matching the paper's month;
* about half the items open with "Oct 3, Meta and MIT published a paper “Title”."
  so organisations are parsed; some open with "Oct 3, researchers posted a paper
  “Title”." (a date, no organisation); the rest have neither;
* titles combined from vocabulary lists (method names like ``ZRX-7`` or
  ``FlashRouter``, adjectives, techniques, tasks, model families, benchmarks), all
  distinct after normalisation, so lookup and autocomplete have something real
  to disambiguate.

Two shapes (``shape``):

* ``realistic`` (the default): summaries as long as the shared digests' and split
  into as many chunks.  Measured with the pipeline's own chunking
  (``Ingestor.texts_to_embed`` per parsed paper, ``python -m bench.synth
  --measure-shared``), the two shared digests give 2.75 chunks per paper (1: 2,
  2: 51, 3: 81, 4: 15, 5: 1 of 150 papers) from texts of 239 words on average
  (deciles 171-307, min 70, max 367).  Each summary here draws its length from
  that distribution (:data:`SHARED_WORD_QUANTILES`, interpolated) and is written
  from many more sentence templates (motivation, method, setup, results,
  analysis, limitations), so the mean chunks per paper lands within a few
  percent of the shared digests' (``--check`` prints it).  The offline model
  embeds ~30 chunks/s on this 2-core box, so a 10k-paper first ingest takes
  about 15-20 minutes and 100k about 3 hours: ``bench.ingest --standin`` builds
  big indexes with stand-in vectors instead (see bench/standin.py).
* ``short``: the former corpus, byte-identical for the same seed: 40-70 words per
  summary, so every paper is one chunk (chunk count = paper count); kept to
  compare with tables measured before the realistic shape.

Lexical statistics (BM25 document length, answer-sentence choice) are somewhat
easier than on real text either way, because summaries are built from a
limited vocabulary.

Text avoids past-tense "published/released/introduced/..." outside the
organisation lead, because the parser reads "<names> <verb>" at the start of a
summary as the organisations.

Use as a module::

    from bench.synth import write_corpus
    files = write_corpus(Path("/tmp/synth"), n_papers=10_000, seed=7)

or as a script, from the repo root::

    .venv-dev/bin/python -m bench.synth --papers 10000 --out /tmp/synth [--seed 7] [--shape short] [--check]
    .venv-dev/bin/python -m bench.synth --measure-shared   # the shared digests' shape, numbers only
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Papers per digest week while the corpus spans at most MAX_WEEKS weeks; past
#: that, weeks get fuller instead of the corpus reaching back decades.
PAPERS_PER_WEEK = 50
MAX_WEEKS = 260
WEEKS_PER_FILE = 4
#: The Sunday that ends the newest week.
LAST_SUNDAY = dt.date(2025, 6, 29)
MIN_WORDS, MAX_WORDS = 40, 70
SHAPES = ("realistic", "short")
#: Words of the text each paper's chunks are cut from (headline + summary), in the
#: two shared digests: minimum, the nine deciles, maximum (numbers measured with
#: ``--measure-shared``; none of their text is used).  A realistic summary's length
#: is drawn from this distribution by linear interpolation.
SHARED_WORD_QUANTILES = (70, 171, 193, 212, 229, 242, 256, 268, 285, 307, 367)
#: Chunks per paper of the shared digests with the pipeline's chunking (412 chunks,
#: 150 papers): what the realistic shape must match within 10%.
SHARED_CHUNKS_PER_PAPER = 2.75

# -- vocabulary ------------------------------------------------------------------------
ADJECTIVES = """Sparse Adaptive Efficient Scalable Robust Hierarchical Contrastive Self-Supervised Multilingual
Retrieval-Augmented Low-Rank Federated Causal Diffusion-Based Memory-Efficient Lightweight Controllable
Interpretable Continual Zero-Shot Few-Shot Unified Modular Compositional Structured Calibrated Verifiable
Long-Horizon Streaming Token-Level Instruction-Tuned Parameter-Efficient Differentiable Bayesian Probabilistic
Latent Recursive Multi-Agent Grounded Aligned Decoupled Dynamic Asynchronous Test-Time Hybrid Privacy-Preserving
Uncertainty-Aware Physics-Informed Data-Efficient Training-Free Reward-Guided Curriculum-Based""".split()

TECHNIQUES = [
    "Attention", "Expert Routing", "Knowledge Distillation", "Quantization", "Structured Pruning", "Tokenization",
    "Decoding", "Reward Modeling", "Preference Optimization", "Mixture-of-Experts", "State Space Models",
    "Adapters", "Prompt Tuning", "Speculative Decoding", "Memory Networks", "Planning", "Curriculum Learning",
    "Data Augmentation", "Model Merging", "KV Cache Compression", "Positional Encoding", "Chain-of-Thought",
    "Self-Reflection", "Tool Use", "Dense Retrieval", "Sentence Embeddings", "Graph Neural Networks",
    "Sparse Autoencoders", "Policy Optimization", "Reinforcement Learning", "Contrastive Pretraining",
    "Synthetic Data Generation", "Layer Skipping", "Early Exiting", "Activation Steering", "Weight Averaging",
    "Low-Bit Training", "Linear Attention", "Recurrent Memory", "Process Supervision", "Self-Play",
    "Diffusion Transformers", "Flow Matching", "Token Merging", "Instruction Tuning", "Red Teaming",
]

TASKS = [
    "Long-Context Reasoning", "Code Generation", "Mathematical Reasoning", "Visual Question Answering",
    "Text-to-Image Generation", "Video Understanding", "Speech Recognition", "Machine Translation",
    "Open-Domain Question Answering", "Table Understanding", "Document Retrieval", "Molecular Property Prediction",
    "Robot Manipulation", "Web Navigation", "Theorem Proving", "Abstractive Summarization", "Dialogue Systems",
    "Hallucination Detection", "Jailbreak Defense", "Protein Design", "Weather Forecasting",
    "Time-Series Forecasting", "Recommendation", "Instruction Following", "Text-to-SQL",
    "Multi-Hop Question Answering", "Video Generation", "Audio Captioning", "Medical Report Generation",
    "Chart Understanding", "Scientific Discovery", "Program Repair", "Embodied Navigation", "Legal Reasoning",
    "Fact Verification", "Named Entity Recognition", "Image Segmentation", "3D Scene Reconstruction",
    "Music Generation", "Clinical Decision Support", "Financial Forecasting", "Software Engineering Agents",
    "Multimodal Retrieval", "Sentiment Analysis", "Question Generation",
]

MODELS = [
    "Large Language Models", "Vision-Language Models", "Small Language Models", "Multimodal LLMs",
    "Diffusion Models", "Code LLMs", "Speech Models", "Embodied Agents", "LLM Agents", "Reasoning Models",
    "Mixture-of-Experts Models", "Encoder-Only Models", "Video Diffusion Models", "Foundation Models",
]

PROPERTIES = ["Robustness", "Limits", "Generalization", "Scaling Laws", "Calibration", "Emergence",
              "Sample Efficiency", "Faithfulness", "Stability", "Memorization"]

CAMEL_HEADS = """Flash Long Deep Meta Hyper Omni Quant Spec Mem Graph Auto Self Turbo Nano Mega Mini Open Star Sky
Lumi Astra Neo Poly Uni Chrono Vera Nova Echo Atlas Sage Orbit Pixel Vox Helix Prism""".split()
CAMEL_TAILS = """Router Mind Coder Former Bench Agent LoRA Mamba Search Gen Vision Math Prover Distill Cache Align
RAG Tune Net Flow Planner Critic Merge Scope Sense Quant Lens""".split()

ORGS = [
    "Meta", "Google DeepMind", "Google Research", "Microsoft Research", "OpenAI", "Anthropic", "Apple", "NVIDIA",
    "MIT", "Stanford University", "Carnegie Mellon University", "UC Berkeley", "Tsinghua University",
    "Peking University", "Alibaba", "Tencent", "ByteDance", "DeepSeek-AI", "Mistral AI", "Allen Institute for AI",
    "Hugging Face", "Princeton University", "Harvard University", "University of Oxford", "ETH Zurich", "EPFL",
    "Mila", "University of Toronto", "KAIST", "Samsung Research", "Amazon", "IBM Research", "Salesforce Research",
    "Cohere", "Shanghai AI Lab", "Zhejiang University", "University of Washington", "NYU", "Columbia University",
    "Imperial College London", "Uni of Chicago", "UIUC", "Seoul National University", "University of Edinburgh",
]

BENCHMARKS = """MMLU GSM8K MATH HumanEval MBPP SWE-bench BBH ARC-Challenge HellaSwag TruthfulQA LongBench RULER
MT-Bench AlpacaEval VQAv2 MMMU ChartQA DocVQA LibriSpeech WMT22 BEIR MS-MARCO HotpotQA WebArena ALFWorld
MiniF2F Spider BIRD GPQA LiveCodeBench""".split()

BASELINES = ["LoRA", "full fine-tuning", "standard attention", "greedy decoding", "GPT-4o", "Llama 3 8B",
             "Qwen2.5 7B", "Mistral 7B", "prior state-of-the-art methods", "DPO", "PPO", "vanilla RAG",
             "FlashAttention-2", "the strongest open baseline", "GPTQ", "AWQ"]

ACTIONS = [
    "learns when to route tokens between experts", "compresses the key-value cache on the fly",
    "decouples planning from execution", "reuses intermediate activations across layers",
    "trains a small verifier to rank candidate solutions", "aligns visual and textual tokens in a shared space",
    "replaces softmax attention with a gated recurrence", "distills a large teacher into a compact student",
    "generates its own training data from unlabeled text", "retrieves evidence before every reasoning step",
    "scores each step of a solution instead of only the final answer", "merges task-specific adapters without retraining",
    "quantizes weights and activations to four bits", "skips redundant layers for easy tokens",
    "models uncertainty over the next action", "steers hidden activations toward safer outputs",
    "mixes synthetic and human preference data", "caches tool outputs across turns",
]

RESULTS = [
    "improves accuracy by {x} points over {baseline}", "cuts inference latency by {p}% compared with {baseline}",
    "matches {baseline} with {r}x fewer parameters", "reduces memory use by {p}% against {baseline}",
    "beats {baseline} by {x} points", "raises the pass rate by {p}% relative to {baseline}",
    "halves the error rate of {baseline}", "runs {r}x faster than {baseline} at equal quality",
]

FINDINGS = [
    "gains grow with model size", "most of the benefit comes from the first few layers",
    "the method transfers to unseen languages", "longer training does not close the gap",
    "small models benefit the most", "data quality matters more than quantity",
    "the approach fails on adversarial prompts", "errors concentrate on rare entities",
    "performance saturates beyond 64k tokens", "the learned routing is highly interpretable",
    "human raters prefer the outputs in most comparisons", "the benefit holds across three model families",
]

CLOSERS = ["Code and weights are available.", "A public demo accompanies the paper.",
           "The benchmark and evaluation scripts are open source.", "Ablations isolate each component."]

LEAD_VERBS = ["published", "released", "introduced", "proposed", "presented"]

TITLE_TEMPLATES = [
    "{M}: {A} {T} for {K}",
    "{M}: Scaling {T} to {K} in {L}",
    "{A} {T} Improves {K} in {L}",
    "Towards {A} {K} with {T}",
    "{M}: A Benchmark for {K} in {L}",
    "On the {P} of {T} in {L}",
    "Do {L} Really Need {T} for {K}?",
    "{T} Is All You Need for {A} {K}",
    "Rethinking {T} for {K}",
    "{M}: {A} {K} via {A2} {T}",
    "{M}: Teaching {L} {K} with {A} {T}",
    "{A} {T} Meets {A2} {K}",
]

# -- the realistic shape's sentences ---------------------------------------------------------
#: Sentence templates by role; a realistic summary takes a few of each, in this
#: order, until it reaches its drawn length.  Slots: {m} the method (or "the
#: method"), {t} technique, {k} task, {l} model family, {a} adjective, {b}/{b2}
#: benchmarks, {base} a baseline, {x} points, {p} percent, {r} a factor, {n} a count,
#: {f} a finding, {act} what the method does.
MOTIVATION = [
    "Current {l} still struggle with {k}, especially when the inputs are long, noisy or drawn from a domain unseen in training.",
    "Most existing approaches to {k} rely on {t}, which scales poorly and needs large amounts of labeled data.",
    "The authors argue that the main bottleneck for {k} is not model size but the way {t} is applied during training and inference.",
    "Prior work on {k} has mostly measured average accuracy, which hides systematic failures on harder and rarer cases.",
    "Deploying {l} for {k} remains expensive because every request pays for the full model even when the input is easy.",
    "Evaluations of {k} are often contaminated or saturated, so it is unclear whether reported gains reflect real progress.",
    "Practitioners report that {t} is brittle in practice: small changes to prompts, data or hyperparameters change the results.",
    "The gap between open and closed {l} on {k} has narrowed, but open models still trail on the hardest problems.",
]
METHOD = [
    "{m} {act}, and a lightweight controller decides at each step how much computation to spend.",
    "The core idea is to treat {t} as a {a_l} process, so the model can revise earlier decisions instead of committing to them.",
    "Training proceeds in two stages: a warm-up on {n} curated examples, followed by reinforcement learning with a verifiable reward.",
    "Instead of a fixed schedule, {m} adapts its behaviour to the difficulty of each input, estimated from the model's own confidence.",
    "A small auxiliary network, trained jointly with the main model, predicts which parts of the input matter for the final answer.",
    "The architecture combines {t} with a {a_l} memory that stores intermediate results and retrieves them when they become relevant again.",
    "{m} needs no changes to the base model's weights: it wraps an existing checkpoint and only learns a few million extra parameters.",
    "To keep training stable, the authors add a consistency loss between the outputs of the full model and a cheaper approximation.",
    "The method decomposes each problem into sub-goals, solves them in order and checks every intermediate result before continuing.",
    "Data for training is generated automatically: a teacher model proposes candidates, and a filter keeps only those that pass unit checks.",
    "The same recipe works for dense and mixture-of-experts models, and for checkpoints from one billion to seventy billion parameters.",
    "At inference time, {m} samples several candidate solutions and aggregates them with a learned scoring function.",
]
SETUP = [
    "Experiments cover {b}, {b2} and a new in-house benchmark of {n} problems written by domain experts.",
    "The evaluation compares against {base} and several strong open baselines under the same compute budget.",
    "All models are trained on the same data mixture, so differences come from the method rather than from the data.",
    "The authors report means over five random seeds and release the exact prompts used for every baseline.",
    "Besides accuracy, the study measures latency, memory use and cost per query on a single GPU.",
    "Human evaluation with {n} annotators complements the automatic metrics on the open-ended tasks.",
    "Ablations remove one component at a time to measure how much each contributes to the final result.",
]
RESULTS_LONG = [
    "On {b}, {m} {res}, and on {b2} the gain is smaller but consistent across model sizes.",
    "The largest improvements appear on the hardest subsets, where the method {res}.",
    "Compared with {base}, {m} reaches the same accuracy after about a third of the training steps.",
    "Under a fixed compute budget, the method {res} while using fewer tokens per answer.",
    "Results hold for both {l_l} and {l2_l}, which suggests that the idea is not tied to one model family.",
    "With only {n} training examples, the method already {res}.",
]
ANALYSIS = [
    "Analysis shows that {f}.",
    "The authors also find that {f2}.",
    "A closer look at the errors reveals that many remaining failures come from ambiguous questions and noisy labels.",
    "Attention maps and probing experiments suggest that the model learns to focus on the few tokens that decide the answer.",
    "Scaling the approach up shows steady gains, with no sign of saturation at the largest size tested.",
    "Interestingly, the benefit is larger for smaller models, which narrows the gap to models ten times their size.",
]
LIMITATIONS = [
    "The method still depends on a reliable verifier, which is not available for every task.",
    "Limitations include higher training cost and a focus on English-language benchmarks.",
    "The authors note that results on {b2} are sensitive to prompt format and may not transfer to other settings.",
    "Open questions remain about how the approach interacts with safety training and instruction tuning.",
]
SENTENCE_ROLES: tuple[tuple[list[str], int], ...] = (
    (MOTIVATION, 2), (METHOD, 5), (SETUP, 2), (RESULTS_LONG, 2), (ANALYSIS, 3), (LIMITATIONS, 1),
)


_MONTH_ABBR = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass
class SynthPaper:
    """One generated paper, as the digest item will state it."""

    title: str
    method: str | None
    arxiv_id: str
    date: dt.date
    week_end: dt.date
    task: str = ""
    technique: str = ""
    orgs: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"


def _norm(title: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", title.lower()))


def _md(day: dt.date) -> str:
    return f"{_MONTH_ABBR[day.month - 1]} {day.day}"


class _Namer:
    """Method names ("ZRX-7", "FlashRouter", "SAR"), distinct across the corpus."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def name(self, adjective: str, technique: str) -> str:
        rng = self.rng
        for attempt in range(50):
            kind = rng.random()
            if kind < 0.35:
                letters = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(2, 4)))
                name = f"{letters}-{rng.randint(1, 99)}"
            elif kind < 0.7:
                name = rng.choice(CAMEL_HEADS) + rng.choice(CAMEL_TAILS)
                if rng.random() < 0.3:
                    name += rng.choice(["-2", "-V", "1.5", "-XL", "-Lite", "++", "-R1"])
            else:
                words = re.findall(r"[A-Za-z]+", f"{adjective} {technique}")
                name = "".join(w[0].upper() for w in words)[:5] + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            if attempt > 20:
                name += str(rng.randint(2, 999))
            if name.lower() not in self.used:
                self.used.add(name.lower())
                return name
        raise RuntimeError("ran out of method names")  # pragma: no cover - 50 draws never all collide


def _title(rng: random.Random, namer: _Namer, seen: set[str]) -> tuple[str, str | None, str, str]:
    """A new title, its method name (if the template has one), its task and technique."""
    for _ in range(200):
        template = rng.choice(TITLE_TEMPLATES)
        a, a2 = rng.sample(ADJECTIVES, 2)
        t = rng.choice(TECHNIQUES)
        values = {"A": a, "A2": a2, "T": t, "K": rng.choice(TASKS), "L": rng.choice(MODELS), "P": rng.choice(PROPERTIES)}
        method = namer.name(a, t) if "{M}" in template else None
        title = template.format(M=method or "", **values)
        key = _norm(title)
        if key not in seen:
            seen.add(key)
            return title, method, values["K"], t
        if method:
            namer.used.discard(method.lower())
    raise RuntimeError("could not find a new title; enlarge the vocabulary")


def _opening(rng: random.Random, paper: SynthPaper) -> tuple[list[str], list[str]]:
    """An optional dated lead naming the organisations; what the method does and a
    result.  Both shapes start this way (the short one draws in this exact order)."""
    lead: list[str] = []
    roll = rng.random()
    if roll < 0.5:
        paper.orgs = rng.sample(ORGS, rng.choice([1, 1, 2, 2, 3]))
        names = paper.orgs[0] if len(paper.orgs) == 1 else ", ".join(paper.orgs[:-1]) + " and " + paper.orgs[-1]
        lead.append(f"{_md(paper.date)}, {names} {rng.choice(LEAD_VERBS)} a paper “{paper.title}”.")
    elif roll < 0.75:
        lead.append(f"{_md(paper.date)}, researchers posted a paper “{paper.title}”.")
    what = rng.choice(["The paper introduces", "The authors propose", "This work presents", "The study describes"])
    kind = rng.choice(["method", "framework", "approach", "recipe", "architecture"])
    task = paper.task.lower()
    if paper.method:
        first = f"{what} {paper.method}, a {rng.choice(ADJECTIVES).lower()} {kind} for {task} that {rng.choice(ACTIONS)}."
    else:
        first = f"{what} a {paper.technique.lower()} {kind} for {task} that {rng.choice(ACTIONS)}."
    body = [first]
    b1, b2 = rng.sample(BENCHMARKS, 2)
    body.append(f"On {b1} and {b2}, it {_result(rng)}.")
    return lead, body


def _result(rng: random.Random) -> str:
    return rng.choice(RESULTS).format(
        x=round(rng.uniform(1.0, 15.0), 1), p=rng.randint(10, 70), r=rng.choice([2, 3, 4, 8]),
        baseline=rng.choice(BASELINES),
    )


def _summary(rng: random.Random, paper: SynthPaper) -> str:
    """The short shape, 40-70 words: the opening, a finding and a closer, trimmed to
    the drawn length."""
    target = rng.randint(MIN_WORDS, MAX_WORDS)
    lead, body = _opening(rng, paper)
    f1, f2 = rng.sample(FINDINGS, 2)
    extras = [f"The authors find that {f1}.", f"They also show that {f2}.", rng.choice(CLOSERS)]
    sentences = lead + body
    for extra in extras:
        if _words(sentences) >= target:
            break
        sentences.append(extra)
    while _words(sentences) > MAX_WORDS and len(sentences) > len(lead) + 1:
        sentences.pop()
    return " ".join(sentences)


def _target_words(rng: random.Random) -> int:
    """A length drawn from the shared digests' distribution (:data:`SHARED_WORD_QUANTILES`)."""
    q = SHARED_WORD_QUANTILES
    at = rng.random() * (len(q) - 1)
    i = min(int(at), len(q) - 2)
    return round(q[i] + (q[i + 1] - q[i]) * (at - i))


def _realistic_summary(rng: random.Random, paper: SynthPaper) -> str:
    """The opening, then a few sentences of every role in order (templates filled
    from the vocabulary) and a closer, ending at the sentence boundary closest to a
    length drawn from the shared digests' distribution."""
    target = _target_words(rng)
    lead, body = _opening(rng, paper)
    b, b2 = rng.sample(BENCHMARKS, 2)
    l1, l2 = rng.sample(MODELS, 2)
    f, f2 = rng.sample(FINDINGS, 2)
    values = {
        "m": paper.method or "the method", "t": paper.technique.lower(), "k": paper.task.lower(), "l": l1,
        "l_l": l1.lower(), "l2_l": l2.lower(), "a_l": rng.choice(ADJECTIVES).lower(), "b": b, "b2": b2,
        "base": rng.choice(BASELINES), "n": f"{rng.choice([2, 3, 5, 8, 12, 20, 50, 120])}{rng.choice(['00', ',000'])}",
        "f": f, "f2": f2, "act": rng.choice(ACTIONS), "res": _result(rng),
    }
    extra: list[str] = []
    for pool, count in SENTENCE_ROLES:
        for template in rng.sample(pool, count):
            sentence = template.format(**values)
            extra.append(sentence[0].upper() + sentence[1:])
    extra.append(rng.choice(CLOSERS))
    sentences = lead + body
    for sentence in extra:
        words = _words(sentences)
        if words >= target or abs(words + len(sentence.split()) - target) > abs(words - target):
            break
        sentences.append(sentence)
    return " ".join(sentences)


def _words(sentences: Sequence[str]) -> int:
    return sum(len(s.split()) for s in sentences)


def _weeks(n_papers: int) -> int:
    return max(1, min(MAX_WEEKS, math.ceil(n_papers / PAPERS_PER_WEEK)))


def generate(n_papers: int, seed: int = 0, shape: str = "realistic") -> list[SynthPaper]:
    """The corpus as records, newest week first, in digest order."""
    if n_papers < 1:
        raise ValueError("n_papers must be at least 1")
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}")
    summary = _realistic_summary if shape == "realistic" else _summary
    rng = random.Random(seed)
    weeks = _weeks(n_papers)
    per_week = [n_papers // weeks + (1 if i < n_papers % weeks else 0) for i in range(weeks)]
    namer = _Namer(rng)
    seen: set[str] = set()
    papers: list[SynthPaper] = []
    for w, count in enumerate(per_week):
        week_end = LAST_SUNDAY - dt.timedelta(weeks=w)
        for _ in range(count):
            # Digests list papers from the week and the few days before it.
            date = week_end - dt.timedelta(days=rng.randint(0, 9))
            title, method, task, technique = _title(rng, namer, seen)
            papers.append(SynthPaper(title=title, method=method, arxiv_id="", date=date, week_end=week_end,
                                     task=task, technique=technique))
    _assign_arxiv_ids(rng, papers)
    for paper in papers:
        paper.summary = summary(rng, paper)
    return papers


def _assign_arxiv_ids(rng: random.Random, papers: list[SynthPaper]) -> None:
    """``YYMM.NNNNN`` from each paper's month; numbers drawn without replacement per month."""
    by_month: dict[str, list[SynthPaper]] = {}
    for paper in papers:
        by_month.setdefault(paper.date.strftime("%y%m"), []).append(paper)
    for yymm, group in by_month.items():
        numbers = sorted(rng.sample(range(1, 100_000), len(group)))
        order = sorted(range(len(group)), key=lambda i: (group[i].date, i))
        for rank, i in enumerate(order):
            group[i].arxiv_id = f"{yymm}.{numbers[rank]:05d}"


def render_week(week_end: dt.date, papers: Sequence[SynthPaper]) -> str:
    start = week_end - dt.timedelta(days=6)
    if start.year != week_end.year:
        heading = f"## Week of {_md(start)}, {start.year} – {_md(week_end)}, {week_end.year}"
    else:
        heading = f"## Week of {_md(start)} – {_md(week_end)}, {week_end.year}"
    lines = [heading, ""]
    for i, paper in enumerate(papers, 1):
        lines.append(f"{i}. **[{paper.title}]({paper.url})**: {paper.summary}")
        lines.append("")
    return "\n".join(lines)


def write_corpus(out_dir: Path | str, n_papers: int = 10_000, seed: int = 0,
                 weeks_per_file: int = WEEKS_PER_FILE, shape: str = "realistic") -> list[Path]:
    """Write the digests under ``out_dir`` (created if needed); return the files, newest first.

    Files from an earlier call with other arguments are not removed: give each
    corpus its own folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    papers = generate(n_papers, seed, shape)
    weeks: list[tuple[dt.date, list[SynthPaper]]] = []
    for paper in papers:
        if not weeks or weeks[-1][0] != paper.week_end:
            weeks.append((paper.week_end, []))
        weeks[-1][1].append(paper)
    files: list[Path] = []
    for start in range(0, len(weeks), weeks_per_file):
        group = weeks[start : start + weeks_per_file]
        first_monday = group[-1][0] - dt.timedelta(days=6)
        last_sunday = group[0][0]
        path = out / f"synthetic-digest-{first_monday.isoformat()}_{last_sunday.isoformat()}.md"
        header = (
            f"# Synthetic AI paper digest, {first_monday.isoformat()} to {last_sunday.isoformat()}\n\n"
            f"Generated by bench/synth.py (seed {seed}, {n_papers} papers in the corpus"
            + ("" if shape == "short" else f", {shape} shape") + "); "
            "the papers and links are made up.\n\n"
        )
        text = header + "\n".join(render_week(week_end, items) for week_end, items in group)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")  # unchanged files keep their mtime
        files.append(path)
    return files


@dataclass
class Shape:
    """How papers come out of the pipeline's chunking: what the realistic shape matches."""

    papers: int
    chunks: list[int]  # per paper
    words: list[int]  # per paper: the text its chunks are cut from (headline + summary)

    @property
    def chunks_per_paper(self) -> float:
        return sum(self.chunks) / max(len(self.chunks), 1)

    def row(self, label: str) -> str:
        counts = Counter(self.chunks)
        spread = ", ".join(f"{k}: {counts[k]}" for k in sorted(counts))
        words = sorted(self.words)
        deciles = [words[min(len(words) - 1, len(words) * i // 10)] for i in range(1, 10)]
        return (f"| {label} | {self.papers} | {self.chunks_per_paper:.2f} | {spread} | "
                f"{statistics.fmean(words):.0f} | {words[0]} / {'-'.join(map(str, deciles))} / {words[-1]} |")


SHAPE_HEADER = ("| corpus | papers | chunks/paper | papers by chunk count | words (mean) | words min / deciles / max |\n"
                "|---|---:|---:|---|---:|---|")


def measure_shape(papers: Sequence[Any], sample: int | None = None, seed: int = 0) -> Shape:
    """Chunks per paper with the pipeline's own chunking (``Ingestor.texts_to_embed``
    one paper at a time), on a seeded sample of ``sample`` papers if given."""
    from index import Ingestor

    chosen = list(papers)
    if sample is not None and len(chosen) > sample:
        chosen = random.Random(seed).sample(chosen, sample)
    chunks = [len(Ingestor.texts_to_embed([p])) for p in chosen]
    words = [len(" ".join(x for x in (p.headline, p.summary) if x).split()) for p in chosen]
    return Shape(len(chosen), chunks, words)


def _parse(specs: Sequence[str]) -> Any:
    from index import parse_sources

    return parse_sources(list(specs), max_bytes=20 * 1024 * 1024, timeout=5.0)


def measure_shared(digests: Sequence[Path]) -> str:
    """The shared digests' shape, as numbers only (none of their text)."""
    missing = [str(d) for d in digests if not d.exists()]
    if missing:
        raise SystemExit(f"shared digests not found: {', '.join(missing)}")
    shape = measure_shape(_parse([str(d) for d in digests]).papers)
    return "\n".join([SHAPE_HEADER, shape.row("shared digests")])


def check(files: Sequence[Path], n_papers: int, shape_sample: int = 2000) -> str:
    """Parse the corpus with the real parser; raise unless exactly ``n_papers`` come
    out; print its chunk shape (on a sample of ``shape_sample`` papers)."""
    started = time.perf_counter()
    parsed = _parse([str(f) for f in files])
    seconds = time.perf_counter() - started
    papers = parsed.papers
    arxiv = {p.arxiv_id for p in papers}
    with_orgs = sum(1 for p in papers if p.orgs)
    with_week = sum(1 for p in papers if p.week)
    with_date = sum(1 for p in papers if p.date)
    with_topics = sum(1 for p in papers if p.topics)
    words = sorted(len(p.summary.split()) for p in papers)
    problems = []
    if len(papers) != n_papers:
        problems.append(f"parsed {len(papers)} papers, expected {n_papers}")
    if len(arxiv) != len(papers) or None in arxiv:
        problems.append("arXiv ids missing or repeated")
    if parsed.skipped:
        problems.append(f"{len(parsed.skipped)} skipped, e.g. {parsed.skipped[0]}")
    lines = [
        "| files | papers parsed | unique arXiv ids | with orgs | with date | with week | with topics | "
        "summary words min/median/max | parse s |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        f"| {len(files)} | {len(papers)} | {len(arxiv)} | {with_orgs} | {with_date} | {with_week} | {with_topics} | "
        f"{words[0]}/{words[len(words) // 2]}/{words[-1]} | {seconds:.2f} |",
    ]
    if problems:
        raise SystemExit("\n".join(lines + ["", "FAILED: " + "; ".join(problems)]))
    label = f"this corpus ({'all' if len(papers) <= shape_sample else f'{shape_sample} sampled'} papers)"
    lines += ["", SHAPE_HEADER, measure_shape(papers, shape_sample).row(label)]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--papers", type=int, default=10_000, help="papers in the corpus (default 10000)")
    parser.add_argument("--out", type=Path, help="folder to write the digests into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    parser.add_argument("--shape", choices=SHAPES, default="realistic",
                        help="realistic: the shared digests' lengths and chunks per paper (default); "
                             "short: the former one-chunk papers")
    parser.add_argument("--weeks-per-file", type=int, default=WEEKS_PER_FILE, help="digest weeks per file")
    parser.add_argument("--check", action="store_true", help="parse the result and print what came out")
    parser.add_argument("--measure-shared", action="store_true",
                        help="print the shared digests' chunks per paper and lengths (numbers only) and exit")
    args = parser.parse_args(argv)
    if not args.measure_shared and args.out is None:
        parser.error("--out is required (unless --measure-shared)")
    if args.papers < 1:
        parser.error("--papers must be at least 1")
    if args.weeks_per_file < 1:
        parser.error("--weeks-per-file must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure_shared:
        from bench.common import SHARED_DIGESTS

        print(measure_shared(SHARED_DIGESTS))
        return 0
    started = time.perf_counter()
    files = write_corpus(args.out, args.papers, args.seed, args.weeks_per_file, args.shape)
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {args.papers} papers ({args.shape} shape) in {len(files)} files ({size / 1e6:.1f} MB) "
          f"to {args.out} in {time.perf_counter() - started:.2f} s")
    if args.check:
        print()
        print(check(files, args.papers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
