"""Question understanding: what a question asks, about what, and for which digest weeks.

A small step before retrieval, kept apart from the answerer so it can be tested
without an index.  It turns "what quantization papers were in the October 6
digest?" into *topic list* · subject "quantization" · week 2024-10-06, and
"what did the digests say about Time-MoE?" into *one paper* · "Time-MoE": the
words around a subject are framing, not evidence about coverage.

Time expressions resolve against the digest weeks the index holds, never the
wall clock: the bot's "now" is the newest digest week it knows.  Dates are
parsed by ``dateparser`` (offline; imported only when a question contains
something that looks like a date, since importing it costs about 0.4 s); this
module only finds the candidate phrase and maps the parsed date or month onto
digest weeks.  A digest week is labelled by its last day (the section date) and
covers the seven days ending there.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from index.lexical import STOPWORDS, raw_words

if TYPE_CHECKING:
    from dateparser.date import DateDataParser

log = logging.getLogger(__name__)

Intent = Literal["paper", "topic", "week", "compare", "define", "help"]

#: Days a digest week spans, ending on its label date.
WEEK_DAYS = 7
#: A week belongs to a month (or "early October") when most of its days fall in it.
MAJORITY_DAYS = 4
#: "Recent" means the digests of the last four weeks before the newest one (a month).
RECENT_DAYS = 28

_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
_PART = r"(?P<part>early|beginning of|start of|mid|middle of|late|end of)[\s-]+"
#: Absolute dates: "Sept 22, 2024", "September 15", "22 September", "July 2024",
#: "2024-09-29", "9/22".  A bare month name needs a preposition or a part of the
#: month before it ("in July", "early October"), so "May I ask" is no date.
_ABSOLUTE = re.compile(
    rf"""(?ix)
    (?:(?:the\s+)?week\s+(?:of|starting|ending)\s+)?
    (?:{_PART})?
    (?P<date>
        \d{{4}}-\d{{2}}-\d{{2}}
      | \d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?
      | (?:{_MONTHS})\.?\s+{_DAY}(?:,?\s+{_YEAR})?\b
      | {_DAY}\s+(?:of\s+)?(?:{_MONTHS})\.?(?:,?\s+{_YEAR})?\b
      | (?:{_MONTHS})\.?,?\s+{_YEAR}\b
      | (?<=\bin\s)(?:{_MONTHS})\b | (?<=\bof\s)(?:{_MONTHS})\b | (?<=\bduring\s)(?:{_MONTHS})\b
      | (?<=\bfrom\s)(?:{_MONTHS})\b | (?<=\bfor\s)(?:{_MONTHS})\b
      | (?<=early\s)(?:{_MONTHS})\b | (?<=late\s)(?:{_MONTHS})\b | (?<=mid\s)(?:{_MONTHS})\b | (?<=mid-)(?:{_MONTHS})\b
    )
    """
)
#: Relative to the newest digest week, parsed by dateparser ("last week", "2 weeks ago", "last month").
_RELATIVE = re.compile(
    r"(?i)\b(?:(?:last|previous|past|prior)\s+(?:week|month)|(?:\d+|a|one|two|three|four|five|six)\s+(?:weeks?|months?)\s+ago"
    r"|this\s+month)\b"
)
#: The newest digest week itself.
_NEWEST = re.compile(
    r"(?i)\b(?:this\s+week(?:'s|’s)?|(?:the\s+)?current\s+week|(?:the\s+)?(?:latest|newest|most\s+recent|last|current|this\s+week(?:'s|’s)?)"
    r"\s+(?:digest|issue|edition|newsletter|roundup|update|week)s?|today)\b"
)
#: "recent" / "latest" papers on a subject: a preference for new weeks, not a filter.
_RECENT = re.compile(r"(?i)\b(?:recent(?:ly)?|lately|latest|newest|new\s+(?=papers?\b)|these\s+days)\b")
_WHATS_NEW = re.compile(r"(?i)\bwhat(?:'s|’s|\s+is|\s+was)?\s+new\b|\banything\s+new\b")

_HELP = re.compile(
    r"(?i)^\s*(?:/?help(?:\s+me)?|\?+|what\s+can\s+(?:you|i)\s+(?:do|ask)|how\s+do\s+(?:i|you)\s+(?:use\s+(?:you|this|paperbot)|work)"
    r"|what\s+are\s+you|who\s+are\s+you|what\s+commands\s+are\s+there)\s*[?.!]*\s*$"
)
_COMPARE = re.compile(
    r"(?i)^\s*(?:please\s+)?(?:compare|contrast)\s+(?P<a>.+?)\s+(?:and|with|to|vs\.?|versus)\s+(?P<b>.+?)\s*[?.!]*$"
    r"|^\s*(?:what(?:'s|\s+is|\s+are)\s+)?(?:the\s+)?differences?\s+between\s+(?P<c>.+?)\s+and\s+(?P<d>.+?)\s*[?.!]*$"
    r"|^\s*(?P<e>[^,?]+?)\s+(?:vs\.?|versus)\s+(?P<f>[^?]+?)\s*[?.!]*$"
    r"|^\s*how\s+(?:does|do)\s+(?P<g>.+?)\s+(?:compare\s+(?:to|with)|differ\s+from)\s+(?P<h>.+?)\s*[?.!]*$"
)
_DEFINE = re.compile(r"(?i)^\s*(?:what\s+(?:is|are|'s)|what’s|define|explain|what\s+does\s+.+\s+mean)\b")
#: Conversational wrappers around a subject; removed before retrieval because they
#: carry no information about which paper is meant.
_FRAMING = re.compile(
    r"""(?ix)
    ^\s*(?:hey|hi|hello|ok(?:ay)?|so|please|pls)[,!\s]+
  | \b(?:can|could|would|will)\s+you\s+(?:please\s+)?
  | \bwhat\s+(?:did|do|does|have|has)\s+(?:the\s+)?(?:digests?|newsletters?|you|paperbot)
      \s+(?:say|said|write|wrote|tell\s+us|have|cover|got)\s*(?:about|on|regarding)?\b
  | \bwhat\s+(?:is|was)\s+(?:said|written)\s+(?:about|on)\b
  | \btell\s+me\s+(?:more\s+)?(?:about|on)\b
  | \bwhat(?:'s|’s|\s+is|\s+are)\s+the\s+(?:work|research|news|story)\s+(?:on|about|in)\b
  | \bgive\s+me\s+(?:a|an|the)?\s*(?:summary|overview|rundown|recap|tl;?dr|gist)\s+of\b
  | \b(?:a\s+)?(?:quick|short|brief)\s+(?:summary|overview)\s+of\b
  | \btl;?\s?dr(?:\s+(?:of|for|on))?\b
  | \b(?:in\s+)?(?:simple|plain)\s+(?:terms|words|english)\b
  | \blike\s+i(?:'m|\s+am)\s+(?:five|5)\b | \beli5\b
  | \b(?:simply|briefly|quickly)\b
  | \bi\s+(?:want|would\s+like|'d\s+like)\s+to\s+know\s+(?:about)?\b
  | \bdo\s+you\s+(?:know|have)\s+(?:anything\s+)?(?:about)?\b
  | \bany(?:thing)?\s+(?:info|information)\s+(?:on|about)\b
    """
)
#: Words that say what kind of answer is wanted, not what it is about.
_FRAME_WORDS = STOPWORDS | frozenset(
    """simply simple briefly quick short summary summaries overview rundown recap tldr tl dr gist highlight highlights
    top key main important interesting notable best showed shown appear appeared appears came come out covered cover
    covers included include includes mention mentioned week weeks weekly issue edition newsletter roundup update
    latest newest last current everything hey hi hello thanks thank please bot paperbot interested
    happening happened going lately recently what's whats today month months digest's items item entries entry
    list listed show see dated got gotten released featured discussed reported went""".split()
)
#: Pronouns that point back at the conversation's papers.
_POINTERS = frozenset("it its it's itself this that these those they them their theirs".split())
#: Head nouns that add nothing to a name ("the VPTQ paper", "Scylla framework").
_GENERIC_HEADS = frozenset(
    """paper papers model models method methods framework approach technique benchmark dataset system report work
    study algorithm architecture technical the a an""".split()
)


@dataclass(frozen=True)
class TimeScope:
    """The digest weeks a question points at.

    ``weeks`` is empty when the question named a date no digest covers; ``recent``
    marks "recent papers on X", a preference for new weeks rather than a filter.
    """

    phrase: str
    weeks: tuple[str, ...] = ()
    recent: bool = False
    asked: str = ""  # what was asked for, in words ("2024-08-18", "July 2024"), for "no digest for ..."

    @property
    def label(self) -> str:
        """How an answer names the weeks it used."""
        if not self.weeks:
            return f"no digest for {self.asked or self.phrase}"
        if len(self.weeks) == 1:
            return f"the digest of {self.weeks[0]}"
        return f"the digests of {self.weeks[0]} to {self.weeks[-1]}"


@dataclass(frozen=True)
class Understood:
    """A question as the answerer acts on it."""

    question: str
    intent: Intent
    #: What retrieval should search for: the question without framing and time words.
    query: str
    #: The question's own subject words ("" when it has none: "what's new?", "how big is it?").
    subject: str
    scope: TimeScope | None = None
    #: The two sides of a comparison.
    compared: tuple[str, ...] = ()
    #: Points back at earlier turns ("its results", "that paper").
    refers_back: bool = False


def understand(question: str, weeks: Sequence[str]) -> Understood:
    """Intent, retrieval query, subject and time scope of ``question``; ``weeks``
    are the digest weeks in the index (ISO dates, any order)."""
    text = " ".join(question.split())
    known = sorted(set(weeks))
    scope, rest = _time_scope(text, known)
    query = _strip_framing(rest)
    subject = _subject(query)
    words = set(raw_words(rest))
    refers_back = bool(words & _POINTERS) or bool(re.search(r"(?i)\b(?:the|that|this)\s+(?:paper|model|one|work|study)\b", text))
    compared: tuple[str, ...] = ()
    m = _COMPARE.search(rest)
    if _HELP.search(text):
        intent: Intent = "help"
    elif m:
        groups = [g for g in m.groups() if g]
        compared = tuple(_strip_framing(g).strip(" ,.?") for g in groups[:2])
        intent = "compare"
    elif not subject and (scope is not None or _WHATS_NEW.search(text)):
        intent = "week"
        if scope is None or (scope.recent and not scope.weeks):
            scope = TimeScope(phrase="what's new", weeks=tuple(known[-1:]))
        elif scope.recent:
            scope = TimeScope(phrase=scope.phrase, weeks=scope.weeks[-1:])
    elif _is_list(text) or (scope is not None and scope.recent):
        intent = "topic"
    elif _DEFINE.search(text):
        intent = "define"
    else:
        intent = "paper"
    if intent != "week" and scope is not None and scope.recent and not _RECENT.search(text):
        scope = None
    return Understood(
        question=text,
        intent=intent,
        query=query or text,
        subject=subject,
        scope=scope,
        compared=compared,
        refers_back=refers_back,
    )


_ASKING = re.compile(
    r"(?i)^\s*(?:(?:what|who|which)(?:'s|’s|\s+(?:is|are|was|were))\s+|(?:explain|define|describe|summari[sz]e)\s+)"
    r"|\s+(?:all\s+)?about\s*[?.!]*\s*$|\s*[?.!]+\s*$"
)


def name_of(subject: str) -> str:
    """A subject reduced to the name it gives: "the Scylla framework" → "Scylla",
    "what is The Mamba in the Llama about" → "Mamba in the Llama"."""
    words = _ASKING.sub(" ", subject).split()
    while words and words[0].lower() in _GENERIC_HEADS:
        words = words[1:]
    while words and words[-1].lower().strip("?.!,") in _GENERIC_HEADS:
        words = words[:-1]
    return " ".join(words).strip(" ?.!,\"“”'")


# -- time --------------------------------------------------------------------------
def _time_scope(text: str, weeks: Sequence[str]) -> tuple[TimeScope | None, str]:
    """The question's time scope, and the question with the time words removed."""
    if not weeks:
        return None, text
    newest = dt.date.fromisoformat(weeks[-1])
    m = _ABSOLUTE.search(text)
    if m:
        scope = _absolute(m, weeks, newest)
        if scope is not None:
            return scope, _remove(text, m)
    m = _RELATIVE.search(text)
    if m:
        parsed = _parse_date(m.group(0), newest)
        if parsed is not None:
            day, period = parsed
            return _scope_for(m.group(0), day, period, weeks, None), _remove(text, m)
    m = _NEWEST.search(text)
    if m:
        return TimeScope(phrase=m.group(0), weeks=(weeks[-1],)), _remove(text, m)
    m = _RECENT.search(text)
    if m:
        since = newest - dt.timedelta(days=RECENT_DAYS)
        recent = tuple(w for w in weeks if dt.date.fromisoformat(w) > since)
        return TimeScope(phrase=m.group(0), weeks=recent, recent=True), _remove(text, m)
    return None, text


def _absolute(m: re.Match[str], weeks: Sequence[str], newest: dt.date) -> TimeScope | None:
    raw = m.group("date")
    parsed = _parse_date(raw, newest)
    if parsed is None:
        return None
    day, period = parsed
    return _scope_for(m.group(0), day, period, weeks, (m.group("part") or "").lower())


def _scope_for(phrase: str, day: dt.date, period: str, weeks: Sequence[str], part: str | None) -> TimeScope:
    if period == "day":
        week = week_of(day, weeks)
        return TimeScope(phrase=phrase, weeks=(week,) if week else (), asked=day.isoformat())
    if period == "week":
        week = week_of(day, weeks)
        return TimeScope(phrase=phrase, weeks=(week,) if week else (), asked=f"the week of {day.isoformat()}")
    if period == "year":
        start, end = dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
        asked = str(day.year)
    else:
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        asked = start.strftime("%B %Y")
        if part in ("early", "beginning of", "start of"):
            end, asked = start + dt.timedelta(days=9), f"early {asked}"
        elif part in ("mid", "middle of"):
            start, end, asked = start + dt.timedelta(days=10), start + dt.timedelta(days=19), f"mid {asked}"
        elif part in ("late", "end of"):
            start, asked = start + dt.timedelta(days=20), f"late {asked}"
    return TimeScope(phrase=phrase, weeks=weeks_between(start, end, weeks), asked=asked)


def week_of(day: dt.date, weeks: Sequence[str]) -> str | None:
    """The digest week whose seven days include ``day``, if the index has one."""
    for week in sorted(weeks):
        delta = (dt.date.fromisoformat(week) - day).days
        if 0 <= delta < WEEK_DAYS:
            return week
    return None


def weeks_between(start: dt.date, end: dt.date, weeks: Sequence[str]) -> tuple[str, ...]:
    """Digest weeks most of whose days lie in [start, end] (all of them for spans
    shorter than a week's majority), oldest first."""
    need = min(MAJORITY_DAYS, (end - start).days + 1)
    chosen = []
    for week in sorted(weeks):
        last = dt.date.fromisoformat(week)
        first = last - dt.timedelta(days=WEEK_DAYS - 1)
        overlap = (min(last, end) - max(first, start)).days + 1
        if overlap >= need:
            chosen.append(week)
    return tuple(chosen)


def _parse_date(phrase: str, newest: dt.date) -> tuple[dt.date, str] | None:
    """(date, period) for a date phrase, relative to the newest digest week."""
    cleaned = re.sub(r"(?i)(\d)(st|nd|rd|th)\b", r"\1", phrase)
    cleaned = re.sub(r"(?i)\bsept\b", "sep", cleaned)
    cleaned = re.sub(r"(?i)\b(?:previous|past|prior)\b", "last", cleaned)
    parser = _date_parser(newest)
    try:
        data = parser.get_date_data(cleaned)
    except (ValueError, OverflowError, TypeError) as exc:
        log.debug("no date in %r (%s)", phrase, exc)
        return None
    if data is None or data.date_obj is None:
        return None
    return data.date_obj.date(), str(data.period or "day")


@lru_cache(maxsize=8)
def _date_parser(newest: dt.date) -> DateDataParser:
    """English only, relative to the newest digest week (one parser per catalogue's newest week)."""
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=["en"],
        settings={
            "RELATIVE_BASE": dt.datetime(newest.year, newest.month, newest.day),
            "PREFER_DATES_FROM": "past",
            "PREFER_DAY_OF_MONTH": "first",
            "RETURN_TIME_AS_PERIOD": True,
        },
    )


def _remove(text: str, m: re.Match[str]) -> str:
    """The text without a matched phrase, and without a preposition or "digest"
    left dangling by it ("in the", "from the ... digest")."""
    before = re.sub(r"(?i)\b(?:in|from|of|for|during|on|since|at)\s+(?:the\s+)?$", "", text[: m.start()])
    after = re.sub(r"(?i)^(?:'s|’s)?\s*(?:digests?|issues?|editions?|newsletters?)\b", "", text[m.end():])
    return " ".join(f"{before} {after}".split())


# -- subject -------------------------------------------------------------------------
def _strip_framing(text: str) -> str:
    return " ".join(_FRAMING.sub(" ", text).split())


def _subject(query: str) -> str:
    """The words of ``query`` that name what it is about, in order."""
    kept = [w for w in re.findall(r"[\w][\w.'’-]*", query) if _is_subject_word(w)]
    return " ".join(kept)


def _is_subject_word(word: str) -> bool:
    lower = word.lower().strip(".'’")
    if lower in _FRAME_WORDS or lower.rstrip("s") in _FRAME_WORDS and len(lower) > 3:
        return False
    return bool(re.search(r"[a-z0-9]", lower)) and lower not in {"s", "t"}


def _is_list(text: str) -> bool:
    """"Papers on agents", "which papers ...", "any work about RAG?"."""
    words = set(raw_words(text))
    return bool(words & {"papers", "works", "publications", "articles", "studies"}) or bool(
        re.search(r"(?i)^\s*(?:any|list|which)\b", text)
    )


# -- what a follow-up asks about ---------------------------------------------------------
@dataclass(frozen=True)
class Aspect:
    """One kind of thing people ask about a paper they are already discussing.

    ``evidence`` finds the sentences of a summary that speak to it ("30B parameter"
    for a size question); ``missing`` completes "The digest doesn't give ...".
    """

    name: str
    asks: re.Pattern[str]
    evidence: re.Pattern[str]
    missing: str


ASPECTS: tuple[Aspect, ...] = (
    Aspect(
        "size",
        re.compile(r"(?i)\b(?:how\s+(?:big|large|small)|size|parameters?|params|largest|biggest|smallest)\b"),
        re.compile(r"(?i)\b\d+(?:\.\d+)?\s?[BMT]\b|\b\d+(?:\.\d+)?\s?(?:billion|million|trillion)\b|\bparameters?\b"),
        "its size",
    ),
    Aspect(
        "count",
        re.compile(r"(?i)\bhow\s+many\b|\bnumber\s+of\b"),
        re.compile(r"\b\d[\d,.]*\b(?!\s*%)"),
        "that number",
    ),
    Aspect(
        "results",
        re.compile(
            r"(?i)\b(?:results?|perform\w*|how\s+(?:well|good)|accura\w+|scores?|benchmarks?|sota|state[- ]of[- ]the[- ]art"
            r"|better|beat|outperform\w*|improve\w*|findings?|find|found|show)\b"
        ),
        re.compile(
            r"(?i)\boutperform\w*|\bstate[- ]of[- ]the[- ]art\b|\bsota\b|\bachiev\w+|\bscor\w+|\baccura\w+|\d+(?:\.\d+)?\s?%"
            r"|\bwin rate\b|\bsurpass\w*|\bbeats?\b|\bbetter than\b|\bmatches\b|\bimprov\w+|\breveal\w*"
            r"|\bfind(?:s|ings)\b|\bshows?\b"
            r"|\bpreferred\b|\brated\b"
        ),
        "its results",
    ),
    Aspect(
        "data",
        re.compile(r"(?i)\b(?:data(?:set)?s?|trained\s+on|training\s+data|corpus|tokens)\b"),
        re.compile(r"(?i)\bdata(?:set)?s?\b|\bcorp(?:us|ora)\b|\btokens\b|\btrained\s+on\b|\bexamples\b"),
        "what data it uses",
    ),
    Aspect(
        "release",
        re.compile(r"(?i)\b(?:code|open[- ]?source\w*|weights|available|download|github|licen[cs]e|release[sd]?)\b"),
        re.compile(r"(?i)\bopen[- ]?source\w*|\breleas\w+|\bavailable\b|\bgithub\b|\bhugging\s?face\b|\blicen[cs]e\b|https?://"),
        "whether its code or models are released",
    ),
    Aspect(
        "limits",
        re.compile(r"(?i)\b(?:limitations?|weakness\w*|drawbacks?|downsides?|fail\w*|problems?|issues?|risks?)\b"),
        re.compile(r"(?i)\blimit\w*|\bhowever\b|\bfail\w*|\bstruggl\w*|\bdrawback\w*|\bweakness\w*|\bremains?\b|\bchalleng\w+"),
        "its limitations",
    ),
    Aspect(
        "method",
        re.compile(r"(?i)\b(?:how\s+does|how\s+do|how\s+is|work|works|method|approach|architecture|technique|idea|trick)\b"),
        re.compile(
            r"(?i)\bpropos\w+|\bintroduc\w+|\buses?\b|\busing\b|\bby\s+\w+ing\b|\barchitecture\b|\bmethod\b|\bapproach\b|\bframework\b"
        ),
        "how it works",
    ),
)


def aspect_of(question: str) -> Aspect | None:
    """The first aspect a question asks about, if any (size before results: "how
    big is the largest model" is about size)."""
    return next((a for a in ASPECTS if a.asks.search(question)), None)
