"""A small, fixed topic taxonomy for digests that do not tag their papers.

Topics feed "questions about a set of papers" ("long-context benchmarks") and
the paper card.  Rules are plain keyword patterns over title, headline and
summary: deterministic, explainable, and cheap at 100k papers.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[str, str], ...] = (
    ("long-context", r"long[- ]context|context window|context length|million[- ]token|needle|haystack|long[- ]document"),
    (
        "multimodal",
        r"multimodal|multi-modal|vision[- ]language|\bvlms?\b|\bmllms?\b|image[- ]text|text[- ]to[- ]image|visual question",
    ),
    ("video", r"\bvideos?\b"),
    ("speech & audio", r"\bspeech\b|\baudio\b|voice|spoken"),
    ("agents", r"\bagents?\b|agentic|tool use|tool-use|multi-agent"),
    ("reasoning", r"reasoning|chain[- ]of[- ]thought|\bcot\b|\bo1\b|planning|\bmath"),
    ("code", r"\bcode\b|coding|program synthesis|software engineering|\bsql\b"),
    ("retrieval & RAG", r"retriev|\brag\b|search engine|embedding"),
    ("benchmark & evaluation", r"benchmark|evaluat|leaderboard"),
    ("safety & alignment", r"safety|unsafe|jailbreak|harm|alignment|red[- ]team|guardrail|toxic|privacy"),
    ("RLHF & preference learning", r"\brlhf\b|reward model|preference|\bdpo\b|\bppo\b|reinforcement learning"),
    ("efficiency & quantization", r"quantiz|pruning|prune|distill|low[- ]bit|efficient inference|sparsity|compression|speedup"),
    ("mixture of experts", r"mixture[- ]of[- ]experts|\bmoe\b"),
    ("hallucination", r"hallucinat"),
    ("data & synthetic data", r"synthetic data|dataset|data curation|data generation|pretraining data"),
    ("theory & interpretability", r"theor|interpretab|mechanistic|markov|generaliz"),
    ("science & medicine", r"medic|clinical|scientific|science|biolog|chemistr"),
    ("robotics", r"robot|embodied"),
)
# Patterns are lower-case and matched against lower-cased text: the same result
# as IGNORECASE at half the cost, which matters when parsing 100k papers.
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in _RULES)
MAX_TOPICS = 4


def derive_topics(title: str, headline: str, summary: str) -> list[str]:
    """Up to four topics, strongest evidence first (title hits count most)."""
    title = title.lower()
    text = f"{headline} {summary}"[:20_000].lower()
    scored = []
    for order, (name, pattern) in enumerate(_COMPILED):
        score = 3 * len(pattern.findall(title)) + len(pattern.findall(text))
        if score >= 2:
            scored.append((-score, order, name))
    return [name for _s, _o, name in sorted(scored)[:MAX_TOPICS]]
