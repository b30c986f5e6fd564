"""Markdown text → the blocks a digest is made of.

markdown-it-py (CommonMark with GFM tables) reads the text; its token stream is
folded into a small tree of :class:`Block` s (headings, paragraphs, list items
with what is nested in them, tables with their rows), each with the line it
starts on.  Inline markdown is rendered back to one normal form the field
extraction reads: bold as ``**…**``, links as ``[text](url)`` (angle-bracket
``<url>`` destinations unwrapped), ``<br>`` kept, everything else plain text;
italics, images (badges) and other HTML are dropped.

Chosen over mistune after measuring both (bench/formats.py, a generated 1 MB
dair-ai-shaped digest): both take 1.0-1.5 s per MB on this box, which one is
faster changing between runs, but only markdown-it-py gives the source line of
every block, which every mention and every skipped entry reports.

Digests are prose written by people, and CommonMark's code rules turn their
mistakes into lost papers (an unclosed `````, a 4-space indent, a ``<div>`` line
swallow everything after them), so fenced and indented code, HTML blocks and
setext headings are switched off, and a list item or heading that follows text
without a blank line still starts a new block.  Every rule left is linear in
the input; lines are capped so a hostile megabyte line costs a fraction of a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

#: Characters kept of one source line: the longest line of a real digest is ~2,200.
MAX_LINE_CHARS = 20_000

_BLOCK_START = re.compile(r"^ {0,3}(?:\d{1,9}[.)]|[-*+]|#{1,6})(?:[ \t]|$)")
#: One container marker at the start of a line: a list item or a quote.
_CONTAINER = re.compile(r"[ \t]{0,3}(?:>[ \t]?|(?:\d{1,9}[.)]|[-*+])(?:[ \t]+|$))")
#: Containers one line may open.  markdown-it-py drops everything after a block
#: nested deeper than its ``maxNesting``, so "0. 0. 0. 0. …" must not nest.
MAX_MARKERS_PER_LINE = 3
_TABLE_LINE = re.compile(r"^ {0,3}\|")
_BR = re.compile(r"^<br\s*/?>$", re.I)


@dataclass
class Row:
    """One table body row: its line and its cells (normalised inline text)."""

    line: int
    cells: list[str]
    #: Cells the source line really has (markdown-it pads or cuts rows to the header).
    source_cells: int


@dataclass
class Block:
    """A heading, paragraph, list item or table, with the line it starts on.

    ``text`` is the block's own inline text (a list item's is its first
    paragraph); ``level`` is a heading's level; ``blocks`` holds what is nested in a list item (more paragraphs,
    sub-lists) in order; a table has ``header`` and ``rows``.
    """

    kind: str  # "heading" | "paragraph" | "item" | "table"
    line: int
    text: str = ""
    level: int = 0
    #: A paragraph wholly in bold or italics (``***Oct 06***``): digests use those as headings.
    emphasised: bool = False
    blocks: list[Block] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def all_text(self) -> str:
        """The block's text and everything nested in it, one paragraph per line."""
        parts = [self.text] if self.text else []
        parts += [b.all_text() for b in self.blocks]
        return "\n".join(p for p in parts if p)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"maxNesting": 100})
    return parser.enable("table").disable(["fence", "code", "html_block", "lheading"])


def parse_blocks(text: str) -> list[Block]:
    """The top-level blocks of a markdown text, in order."""
    lines, origin = _prepare(text)
    tokens = _parser().parse("\n".join(lines))
    blocks, _end = _fold(tokens, 0, len(tokens), origin, lines)
    return blocks


def _prepare(text: str) -> tuple[list[str], list[int]]:
    """Lines capped in length, with a blank line before a list item or heading
    that directly follows text (CommonMark would make it part of that paragraph
    unless it is numbered 1), and the 1-based source line of each line."""
    lines: list[str] = []
    origin: list[int] = []
    previous = ""
    for n, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        line = _flatten(raw[:MAX_LINE_CHARS])
        if previous.strip() and _BLOCK_START.match(line) and not (_TABLE_LINE.match(previous) and "|" in line):
            lines.append("")
            origin.append(n)
        lines.append(line)
        origin.append(n)
        previous = line
    return lines, origin


def _flatten(line: str) -> str:
    """The line, with the list and quote markers after the first few turned into
    text (a backslash before the next one), so no line nests blocks deeply."""
    pos = 0
    for _ in range(MAX_MARKERS_PER_LINE):
        m = _CONTAINER.match(line, pos)
        if not m or m.end() == pos:
            return line
        pos = m.end()
    m = _CONTAINER.match(line, pos)
    if not m or m.end() == pos:
        return line
    start = pos + len(line[pos:]) - len(line[pos:].lstrip(" \t"))
    return line[:start] + "\\" + line[start:]


def _line(token: Token, origin: list[int]) -> int:
    start = token.map[0] if token.map else 0
    return origin[min(start, len(origin) - 1)] if origin else 1


def _fold(tokens: list[Token], i: int, end: int, origin: list[int], lines: list[str]) -> tuple[list[Block], int]:
    """Blocks from ``tokens[i:end]`` until a closing token at this depth."""
    out: list[Block] = []
    while i < end:
        tok = tokens[i]
        kind = tok.type
        if kind == "heading_open":
            out.append(Block("heading", _line(tok, origin), render_inline(tokens[i + 1]), level=int(tok.tag[1:])))
            i += 3
        elif kind == "paragraph_open":
            inline = tokens[i + 1]
            out.append(Block("paragraph", _line(tok, origin), render_inline(inline), emphasised=_emphasised(inline)))
            i += 3
        elif kind == "list_item_open":
            inner, i = _fold(tokens, i + 1, end, origin, lines)
            item = Block("item", _line(tok, origin))
            if inner and inner[0].kind == "paragraph":
                item.text = inner.pop(0).text
            item.blocks = inner
            out.append(item)
        elif kind == "table_open":
            table, i = _table(tokens, i, end, origin, lines)
            out.append(table)
        elif kind in ("list_item_close", "blockquote_close") and tok.nesting == -1:
            if kind == "list_item_close":
                return out, i + 1
            i += 1
        else:
            i += 1  # list and blockquote wrappers, rules: their content is folded in place
    return out, i


def _table(tokens: list[Token], i: int, end: int, origin: list[int], lines: list[str]) -> tuple[Block, int]:
    table = Block("table", _line(tokens[i], origin))
    row: list[str] | None = None
    row_token: Token | None = None
    in_head = False
    while i < end:
        tok = tokens[i]
        if tok.type == "table_close":
            return table, i + 1
        if tok.type == "thead_open":
            in_head = True
        elif tok.type == "thead_close":
            in_head = False
        elif tok.type == "tr_open":
            row, row_token = [], tok
        elif tok.type == "inline" and row is not None:
            row.append(render_inline(tok))
        elif tok.type == "tr_close" and row is not None and row_token is not None:
            if in_head:
                table.header = row
            else:
                index = row_token.map[0] if row_token.map else 0
                source = lines[index] if index < len(lines) else ""
                table.rows.append(Row(_line(row_token, origin), row, len(split_row(source))))
            row = None
        i += 1
    return table, i


def split_row(line: str) -> list[str]:
    """The cells of a raw table line (pipes escaped with a backslash are text)."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def _emphasised(token: Token) -> bool:
    children = [c for c in token.children or [] if not (c.type == "text" and not c.content.strip())]
    return (
        len(children) >= 3
        and children[0].type in ("em_open", "strong_open")
        and children[-1].type in ("em_close", "strong_close")
    )


def render_inline(token: Token) -> str:
    """An inline token in the normal form described in the module docstring."""
    out: list[str] = []
    links: list[tuple[str, int]] = []  # (href, position in out) of the open links
    for child in token.children or []:
        kind = child.type
        if kind == "text" or kind == "code_inline":
            out.append(child.content.replace("\n", " "))
        elif kind == "strong_open" or kind == "strong_close":
            out.append("**")
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "html_inline":
            if _BR.match(child.content.strip()):
                out.append("<br>")
        elif kind == "link_open":
            links.append((str(child.attrs.get("href", "")), len(out)))
            out.append("")
        elif kind == "link_close" and links:
            href, at = links.pop()
            label = "".join(out[at + 1 :]).strip()
            del out[at + 1 :]
            out[at] = _link(label, href)
    return "".join(out).strip()


def _link(label: str, href: str) -> str:
    """``[label](href)`` for a web link or an in-page anchor (a table of contents
    is made of those); just the label for any other scheme; nothing for a link
    without text (a badge, an image link)."""
    if not label.replace("*", "").strip():
        return ""
    if href.startswith("#"):
        return f"[{label}]({href[:200]})"
    if not href.lower().startswith(("http://", "https://")):
        return label
    href = href.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
    label = label.replace("[", "(").replace("]", ")")
    return f"[{label}]({href})"
