"""What the benchmarks ask: questions about the shared digests and over a synthetic
corpus, and ``/paper`` lookup and autocomplete inputs made from catalogue entries
(with the paper each should find).  ``bench.query``, ``bench.scale`` and
``bench.memory`` draw their inputs from here, so their numbers are comparable."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import synth
from index import Paper

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
