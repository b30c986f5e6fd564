"""``paperbot chat``: the bot's commands in a terminal, for trying it without Discord.

Plain text is a question (follow-ups keep the conversation, like a Discord
thread); ``/ask``, ``/paper`` and ``/digest show`` behave like their slash
commands and render with the same text formatter the CLI uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from bot.render import Plain, Styler, answer_text, paper_blurb, paper_card_text, unknown_week_text
from index import Turn, truncate

if TYPE_CHECKING:
    from index import Engine

log = logging.getLogger(__name__)

HELP = """Ask anything about the papers in the digests, or use a command:
  /ask QUESTION         a cited answer (plain text does the same and keeps the conversation)
  /paper QUERY          a paper card: arXiv id, link, title (typos are fine) or keywords
  /digest show [WEEK]   a week's digest (latest by default)
  /new                  forget the conversation
  /help, /quit          (also without the slash)"""

#: Lines that are a command even without the slash: a person's first try is
#: "help" or "quit", and no paper question is that one word.
BARE_COMMANDS = {"help": "/help", "quit": "/quit", "exit": "/exit"}


class ChatSession:
    """One terminal conversation; ``handle`` maps a line to the text to print."""

    def __init__(self, engine: Engine, style: Styler | None = None) -> None:
        self.engine = engine
        self.style = style or Plain()
        self.history: list[Turn] = []

    def handle(self, line: str) -> str | None:
        """The reply to one input line; None means quit."""
        line = line.strip()
        if not line:
            return ""
        line = BARE_COMMANDS.get(line.lower().rstrip("?!."), line)
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        if command in ("/quit", "/exit"):
            return None
        if command == "/help":
            return HELP
        if command == "/new":
            self.history.clear()
            return "Starting a new conversation."
        if command == "/paper":
            return self._paper(rest) if rest else "Usage: /paper QUERY"
        if command == "/digest":
            sub, _, week = rest.partition(" ")
            if sub != "show":
                return "Usage: /digest show [WEEK]"
            return self._digest(week.strip() or None)
        if command == "/ask":
            return self._ask(rest, keep_history=False) if rest else "Usage: /ask QUESTION"
        if command.startswith("/"):
            return f"Unknown command {command}. Type /help."
        return self._ask(line, keep_history=True)

    def _ask(self, question: str, keep_history: bool) -> str:
        answer = self.engine.ask(question, history=self.history if keep_history else ())
        if keep_history:
            self.history = (self.history + [Turn(question, answer.text)])[-6:]
        return answer_text(answer, style=self.style)

    def _paper(self, query: str) -> str:
        matches = self.engine.find_papers(query, 6)
        if not matches:
            return "No paper in the digests matches that. Try a title, an arXiv id or a few keywords."
        text = paper_card_text(matches[0].paper, style=self.style)
        best = matches[0]
        if best.how in ("arxiv_id", "url"):
            same_link = [m.paper for m in matches[1:] if m.how == best.how]
            if same_link:
                text += "\n\nThe digests give the same link to:\n" + "\n".join(f"  - {p.title}" for p in same_link)
        elif best.how != "paper_id" and len(matches) > 1:
            text += "\n\nDid you mean:\n" + "\n".join(f"  - {m.paper.title}" for m in matches[1:4])
        return text

    def _digest(self, week: str | None) -> str:
        chosen, papers = self.engine.week_papers(week)
        if chosen is None:
            text = unknown_week_text(week or "", self.engine.weeks())
            return text[0].upper() + text[1:] + "."
        lines = [self.style.bold(f"AI paper digest — week of {chosen} ({len(papers)} papers)")]
        for i, paper in enumerate(papers, 1):
            lines.append(f"{i:>2}. {self.style.bold(paper.title)}")
            blurb = truncate(paper_blurb(paper), 200, at_sentence=True)
            if blurb:
                lines.append(f"    {blurb}")
            if paper.url:
                lines.append(f"    {self.style.cyan(paper.url)}")
        return "\n".join(lines)


def run_chat(engine: Engine, read: Callable[[str], str], out: TextIO, style: Styler | None = None) -> int:
    """The read-eval-print loop; ``read`` is ``input`` in a terminal."""
    session = ChatSession(engine, style)
    stats = engine.stats()
    out.write(f"paperbot — {stats.papers} papers from {len(stats.weeks)} digest weeks. Type /help for commands.\n")
    while True:
        try:
            line = read("you> ")
        except (EOFError, KeyboardInterrupt):
            out.write("\n")
            return 0
        try:
            reply = session.handle(line)
        except Exception:
            log.exception("chat command failed")
            reply = "Sorry, something went wrong; the details are in the log."
        if reply is None:
            return 0
        if reply:
            out.write(reply + "\n\n")
            out.flush()
