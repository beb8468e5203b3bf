"""Text of HTML too large for tree-based extraction, in one streaming pass.

Tree extractors hold the whole document several times over (lxml's tree,
trafilatura's copies, BeautifulSoup's objects): a 16 MB file of two million
``<p>`` took 3.7 GB. This reader never builds a tree: lxml's parser calls back
for each start tag, end tag and text run, and the text of block elements is
collected line by line, so time and memory grow linearly with the input (and the
output is capped). It drops the same things as the tree path where it can:
scripts, styles, navigation, hidden attributes, inline hiding styles and the
rules of ``<style>`` sheets seen so far (a sheet placed after the element it
hides is not applied). There is no main-content detection: it is a fallback.
"""

from __future__ import annotations

import re

from .css import (
    MAX_CSS_CHARS,
    SHEET,
    WHITE,
    Rule,
    Sheet,
    background,
    cascade,
    declarations,
    hides,
    parse_color,
    parse_sheet,
    same_color,
    zero_font,
)

MAX_CHARS = 24_000_000  # text kept from one document: above the 20 MB file cap, so in practice nothing is cut
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
                   "nav", "header", "footer", "aside", "form", "button", "select", "menu", "head"})
_BLOCK = frozenset({"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "td", "th",
                    "dd", "dt", "figcaption", "br", "tr", "section", "article", "table", "ul", "ol", "main",
                    "body", "title"})
_SPACE = re.compile(r"\s+")
_SHORT = 40  # blocks shorter than this join the line before (see _Collector._flush)
_MERGED = 2000


class _Collector:
    """lxml parser target: keeps visible block text, skips hidden and non-content subtrees."""

    def __init__(self, max_chars: int, merge: bool = True):
        self.max_chars = max_chars
        self.merge = merge
        self.stack: list[tuple] = []  # (tag, hidden, zero font size, background) per open element
        self.skipping = 0
        self.lines: list[str] = []
        self.buf: list[str] = []
        self.chars = 0
        self.title: list[str] = []
        self.css: list[str] = []
        self.rules: list[Rule] = []
        self.css_chars = 0
        self.sheet = Sheet([])

    def _flush(self) -> None:
        if self.buf:
            line = _SPACE.sub(" ", "".join(self.buf)).strip()
            self.buf = []
            if not line or self.chars >= self.max_chars:
                return
            line = line[: self.max_chars - self.chars]
            self.chars += len(line) + 1
            last = self.lines[-1] if self.lines else ""
            if self.merge and len(line) < _SHORT and last and len(last) < _MERGED and last[-1] not in ".!?:":
                # runs of tiny blocks (menus, link lists, a flood of <p>x</p>) become one line:
                # the chunker's cost is per line, and fragments this short are not paragraphs
                self.lines[-1] = f"{last} {line}"
            else:
                self.lines.append(line)

    def _style(self, tag: str, attrib) -> dict[str, str]:
        style = attrib.get("style")
        inline = declarations(style) if style else {}
        rules = []
        if self.sheet:
            cls = attrib.get("class")
            rules = self.sheet.matching(tag, attrib.get("id"), frozenset(cls.split()) if cls else frozenset())
        computed = cascade(rules, inline) if inline or rules else {}
        if tag == "font" and attrib.get("color"):
            computed.setdefault("color", attrib["color"].lower())
        if attrib.get("bgcolor"):
            computed.setdefault("background-color", attrib["bgcolor"].lower())
        return computed

    def start(self, tag, attrib) -> None:
        tag = tag.lower() if isinstance(tag, str) else ""
        parent = self.stack[-1] if self.stack else ("", False, False, WHITE)
        if parent[1]:
            self.stack.append((tag, True, True, parent[3]))  # inside a hidden subtree: all hidden
            self.skipping += 1
            return
        hidden, zero, bg = False, parent[2], parent[3]
        if tag in _SKIP:
            hidden = True
        elif attrib and tag not in ("html", "body"):
            if "hidden" in attrib or (attrib.get("aria-hidden") or "").lower() == "true":
                hidden = True
            else:
                style = self._style(tag, attrib)
                own_bg = background(style) if style else None
                bg = own_bg if own_bg is not None else bg
                fg = parse_color(style.get("color", "")) if style else None
                size = zero_font(style) if style else None
                zero = size if size is not None else zero
                hidden = hides(style) or bool(fg and isinstance(bg, tuple) and same_color(fg, bg))
        self.stack.append((tag, hidden, zero, bg))
        self.skipping += hidden
        if tag in _BLOCK:
            self._flush()

    def end(self, tag) -> None:
        if not self.stack:
            return
        tag, hidden, _zero, _bg = self.stack.pop()
        self.skipping -= hidden
        if tag == "style" and self.css:
            css = "".join(self.css)
            self.css_chars += len(css)
            if self.css_chars <= MAX_CSS_CHARS:
                self.rules += parse_sheet(css, SHEET)
            self.sheet = Sheet(self.rules)
            self.css = []
        if tag in _BLOCK:
            self._flush()

    def data(self, text: str) -> None:
        top = self.stack[-1] if self.stack else ("", False, False, WHITE)
        if top[0] == "style":
            self.css.append(text)
        elif top[0] == "title" and not self.title:
            self.title.append(text)
        elif not self.skipping and not top[2] and self.chars < self.max_chars:
            self.buf.append(text)

    def comment(self, text: str) -> None:  # comments are never shown
        return None

    def close(self) -> None:
        self._flush()


def stream_text(html: str, max_chars: int = MAX_CHARS) -> tuple[str, str]:
    """``(title, text)`` of ``html`` read in one pass, one block per line."""
    from lxml import etree

    collector = _Collector(max_chars)
    parser = etree.HTMLParser(target=collector, recover=True, huge_tree=True, no_network=True)
    step = 1 << 20
    for i in range(0, len(html), step):  # fed in slices so no second full-size copy is made
        parser.feed(html[i : i + step])
    parser.close()
    title = _SPACE.sub(" ", "".join(collector.title)).strip()
    return title, "\n".join(collector.lines)
