"""The small part of CSS needed to tell whether text is hidden: declarations, simple
selectors, the cascade, lengths and colours.

Only simple selectors are matched (``tag``, ``.class``, ``#id`` and compounds like
``p.note`` or ``.a.b``, in selector lists); rules with combinators, pseudo-classes
or attribute tests are skipped. ``@media`` blocks count when they apply to a
1280x800 screen; other at-rule blocks (print, keyframes, supports...) are skipped.
The cascade follows ``!important``, inline style, specificity and source order.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

OFFSCREEN_PX = 999.0
# Stylesheet text read per page (real pages carry 33 KB on average, 1.1 MB at most in the
# saved set); rules beyond it are not applied, so a 10 MB sheet cannot cost minutes.
MAX_CSS_CHARS = 2_000_000
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_BRACE = re.compile(r"[{}]")
_SIMPLE = re.compile(r"([a-z][a-z0-9-]*|\*)?((?:[.#][\w-]+)*)", re.I)
_PART = re.compile(r"([.#])([\w-]+)")
_FLAT = re.compile(r"([^{}]*)\{([^{}]*)\}")
_AT_BLOCK = re.compile(r"@([\w-]+)[^{};]*\{")
_MEDIA_FEATURE = re.compile(r"\(\s*(min|max)-(width|height)\s*:\s*(\d*\.?\d+)(px|em|rem)?\s*\)")
_VIEWPORT = {"width": 1280.0, "height": 800.0}
_LENGTH = re.compile(r"^(-?\d*\.?\d+)(px|em|rem|pt|vw|vh|%)?$")
_UNIT_PX = {"px": 1.0, "pt": 4 / 3, "em": 16.0, "rem": 16.0, "vw": 19.2, "vh": 10.8, "%": 0.0, None: 1.0}
HIDING = frozenset({
    "display", "visibility", "opacity", "font-size", "position", "left", "top", "right", "text-indent",
})
BACKGROUND = frozenset({"background", "background-color", "background-image"})
SHEET = HIDING | BACKGROUND
_INLINE = SHEET | {"color"}
_COLOR_TOKEN = re.compile(r"#[0-9a-f]{3,8}\b|(?:rgba?|hsla?)\([^)]*\)|\b[a-z]+\b", re.I)
_NAMED = {
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "lime": (0, 255, 0),
    "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0), "cyan": (0, 255, 255),
    "aqua": (0, 255, 255), "magenta": (255, 0, 255), "fuchsia": (255, 0, 255), "silver": (192, 192, 192),
    "gray": (128, 128, 128), "grey": (128, 128, 128), "maroon": (128, 0, 0), "olive": (128, 128, 0),
    "navy": (0, 0, 128), "purple": (128, 0, 128), "teal": (0, 128, 128), "orange": (255, 165, 0),
    "snow": (255, 250, 250), "ivory": (255, 255, 240), "whitesmoke": (245, 245, 245),
    "ghostwhite": (248, 248, 255), "azure": (240, 255, 255), "mintcream": (245, 255, 250),
}
WHITE = (255, 255, 255, 1.0)
_CLOSE = 12  # largest per-channel difference still read as "the same colour"


@dataclass(frozen=True, slots=True)
class Rule:
    """One simple selector of a style rule with the declarations that matter here."""

    tag: str | None
    ident: str | None
    classes: frozenset[str]
    specificity: tuple[int, int, int]
    order: int
    decls: dict[str, tuple[str, bool]]


def declarations(style: str, props: frozenset[str] = _INLINE) -> dict[str, tuple[str, bool]]:
    """``"color: red !important; x"`` -> ``{"color": ("red", True)}`` (lower-cased, ``props`` only)."""
    out: dict[str, tuple[str, bool]] = {}
    for part in style.split(";"):
        name, sep, value = part.partition(":")
        name = name.strip().lower()
        if not sep or name not in props:
            continue
        value = " ".join(value.lower().split())
        important = value.endswith("!important")
        if important:
            value = value[: -len("!important")].rstrip()
        out[name] = (value, important)
    return out


def _close_of(css: str, open_: int) -> int:
    """Index of the brace closing the block opened at ``open_`` (the end when unbalanced)."""
    depth = 0
    for m in _BRACE.finditer(css, open_):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return m.start()
    return len(css)


def _ignored_spans(css: str) -> list[tuple[int, int]]:
    """Spans of at-rule blocks whose rules do not apply on screen (print media, keyframes...)."""
    spans: list[tuple[int, int]] = []
    for m in _AT_BLOCK.finditer(css):
        if spans and m.start() < spans[-1][1]:
            continue  # nested inside a block already ignored
        if m.group(1).lower() == "media" and media_applies(m.group(0)[:-1]):
            continue
        spans.append((m.end(), _close_of(css, m.end() - 1)))
    return spans


def media_applies(prelude: str) -> bool:
    """Whether ``@media …`` applies to a 1280x800 desktop screen (unknown features: no)."""
    for query in prelude.strip()[len("@media"):].lower().split(","):
        ok = True
        for part in (p.strip() for p in query.split(" and ")):
            part = part.removeprefix("only ").strip()
            if part in ("screen", "all", ""):
                continue
            m = _MEDIA_FEATURE.fullmatch(part)
            if m is None:
                ok = False
                break
            limit = float(m.group(3)) * _UNIT_PX.get(m.group(4), 1.0)
            size = _VIEWPORT[m.group(2)]
            if (m.group(1) == "min" and size < limit) or (m.group(1) == "max" and size > limit):
                ok = False
                break
        if ok:
            return True
    return False


def _selector(text: str) -> tuple[str | None, str | None, frozenset[str]] | None:
    m = _SIMPLE.fullmatch(text.strip())
    if m is None or not (m.group(1) or m.group(2)):
        return None
    tag = (m.group(1) or "").lower()
    ids = [v for k, v in _PART.findall(m.group(2)) if k == "#"]
    classes = frozenset(v for k, v in _PART.findall(m.group(2)) if k == ".")
    if len(ids) > 1 or (tag in ("", "*") and not ids and not classes):
        return None  # "*" alone, or an impossible "#a#b"
    return (tag if tag not in ("", "*") else None), (ids[0] if ids else None), classes


class StyleText:
    """A page's stylesheet text, searched for the few rules that matter instead of parsed whole
    (pages carry 30 KB of framework CSS on average; most of it never hides anything)."""

    def __init__(self, css: str, base: int = 0):
        self.base = base  # added to positions, so rules of later <style> elements come later
        self.css = _COMMENT.sub(" ", css) if "/*" in css else css
        self.ignored = _ignored_spans(self.css) if "@" in self.css else []
        self._starts = [a for a, _b in self.ignored]
        self._seen: set[int] = set()

    def _skipped(self, pos: int) -> bool:
        k = bisect.bisect_right(self._starts, pos) - 1
        return k >= 0 and pos < self.ignored[k][1]

    def _rule(self, open_: int, props: frozenset[str]) -> list[Rule]:
        """The rules of the block opened at ``open_`` (one per simple selector in its list)."""
        css = self.css
        close = css.find("}", open_)
        if open_ < 0 or close < 0 or css.find("{", open_ + 1, close) >= 0 or self._skipped(open_):
            return []
        cut = max(css.rfind("}", 0, open_), css.rfind("{", 0, open_), css.rfind(";", 0, open_))
        head = css[cut + 1 : open_].strip()
        decls = declarations(css[open_ + 1 : close], props)
        if not decls or head.startswith("@"):
            return []
        out = []
        for text in head.split(","):
            sel = _selector(text)
            if sel is not None:
                tag, ident, classes = sel
                spec = (int(ident is not None), len(classes), int(tag is not None))
                out.append(Rule(tag, ident, classes, spec, self.base + open_, decls))
        return out

    def rules_declaring(self, pattern: re.Pattern, props: frozenset[str]) -> list[Rule]:
        """Rules with a declaration matching ``pattern`` (each block read once). For
        :data:`HIDING_VALUE` the property before the colon must be a hiding one."""
        out: list[Rule] = []
        css = self.css
        check = pattern is HIDING_VALUE
        for m in pattern.finditer(css):
            if check:
                name = _NAME_BEFORE.search(css, max(0, m.start() - 40), m.start())
                if name is None or name.group(1).lower() not in _HIDING_NAMES:
                    continue
            open_ = css.rfind("{", 0, m.start())
            if open_ not in self._seen:
                self._seen.add(open_)
                out += self._rule(open_, props)
        return out

    def rules_naming(self, keys: list[tuple[str, str]], props: frozenset[str]) -> list[Rule]:
        """Rules whose selectors mention one of the ``(kind, name)`` keys."""
        if not keys:
            return []
        marked = "|".join(re.escape(kind + name) for kind, name in keys if kind != "t")
        tags = "|".join(re.escape(name) for kind, name in keys if kind == "t")
        parts = [rf"(?:{marked})(?![\w-])"] if marked else []
        if tags:
            parts.append(rf"(?<![\w.#-])(?:{tags})(?![\w-])")
        pattern = re.compile(rf"(?:{'|'.join(parts)})[^{{}};]*\{{")
        out: list[Rule] = []
        for m in pattern.finditer(self.css):
            open_ = m.end() - 1
            if open_ not in self._seen:
                self._seen.add(open_)
                out += self._rule(open_, props)
        return out


# Searched from the colon, a literal the regex engine scans for quickly; the property name
# before it is checked separately (see StyleText.rules_declaring).
HIDING_VALUE = re.compile(
    r":\s*(?:none|hidden|collapse|[0.]*0(?:\.0*)?[a-z%]*\s*(?:[;}!]|$)|-\d{3,})", re.I
)
_HIDING_NAMES = frozenset({"display", "visibility", "opacity", "font-size", "left", "top", "right",
                           "text-indent"})
_NAME_BEFORE = re.compile(r"([\w-]+)\s*$")
BACKGROUND_NAME = re.compile(r"background(?:-color|-image)?\s*:", re.I)


def parse_sheet(css: str, props: frozenset[str] = HIDING) -> list[Rule]:
    """Every simple-selector rule of ``css`` that sets one of ``props``, in source order."""
    text = StyleText(css)
    rules = [r for m in _FLAT.finditer(text.css) for r in text._rule(m.start(2) - 1, props)]
    return rules


class Sheet:
    """Rules indexed by the tag, id or first class they need, for cheap matching."""

    def __init__(self, rules: list[Rule]):
        self.index: dict[tuple[str, str], list[Rule]] = {}
        for r in rules:
            key = ("#", r.ident) if r.ident else (".", min(r.classes)) if r.classes else ("t", r.tag or "")
            self.index.setdefault(key, []).append(r)

    def __bool__(self) -> bool:
        return bool(self.index)

    def matching(self, tag: str, ident: str | None, classes: frozenset[str]) -> list[Rule]:
        found = list(self.index.get(("t", tag), ()))
        if ident:
            found += self.index.get(("#", ident), ())
        for c in classes:
            found += self.index.get((".", c), ())
        return [
            r for r in found
            if (r.tag is None or r.tag == tag) and (r.ident is None or r.ident == ident) and r.classes <= classes
        ]


def cascade(rules: list[Rule], inline: dict[str, tuple[str, bool]]) -> dict[str, str]:
    """Winning value per property: !important first, then inline, specificity, source order."""
    ranked = [(imp, (0, spec), r.order, name, value) for r in rules
              for name, (value, imp) in r.decls.items() for spec in (r.specificity,)]
    ranked += [(imp, (1, (0, 0, 0)), 0, name, value) for name, (value, imp) in inline.items()]
    ranked.sort(key=lambda x: (x[0], x[1], x[2]))
    return {name: value for *_k, name, value in ranked}


def _px(value: str) -> float | None:
    m = _LENGTH.match(value.strip())
    if m is None:
        return None
    return float(m.group(1)) * _UNIT_PX[m.group(2)]


def _zero(value: str) -> bool:
    m = _LENGTH.match(value.strip())
    return m is not None and float(m.group(1)) == 0.0


def hides(style: dict[str, str]) -> bool:
    """True when these computed declarations keep an element's whole box from view."""
    if style.get("display") == "none" or style.get("visibility") in ("hidden", "collapse"):
        return True
    opacity = style.get("opacity", "1")
    if _zero(opacity.rstrip("%")):
        return True
    if style.get("position") in ("absolute", "fixed"):
        for side in ("left", "top", "right"):
            px = _px(style.get(side, ""))
            if px is not None and px <= -OFFSCREEN_PX:
                return True
    indent = _px(style.get("text-indent", ""))
    return indent is not None and indent <= -OFFSCREEN_PX


def zero_font(style: dict[str, str]) -> bool | None:
    """True for ``font-size: 0``, False for another font size, None when none is set."""
    value = style.get("font-size")
    if value is None:
        return None
    return _zero(value)


def parse_color(value: str) -> tuple[int, int, int, float] | None:
    """An sRGB colour with alpha from a CSS value (hex, rgb(a), hsl(a), a common name)."""
    value = value.strip().lower()
    if value == "transparent":
        return (0, 0, 0, 0.0)
    if value in _NAMED:
        return (*_NAMED[value], 1.0)
    if value.startswith("#"):
        h = value[1:]
        if len(h) in (3, 4):
            h = "".join(c * 2 for c in h)
        if len(h) not in (6, 8) or not all(c in "0123456789abcdef" for c in h):
            return None
        alpha = int(h[6:8], 16) / 255 if len(h) == 8 else 1.0
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), alpha)
    m = re.fullmatch(r"(rgba?|hsla?)\(([^)]*)\)", value)
    if m is None:
        return None
    parts = [p for p in re.split(r"[\s,/]+", m.group(2)) if p]
    try:
        nums = [float(p.rstrip("%")) * (2.55 if p.endswith("%") and i < 3 and m.group(1)[0] == "r" else 1)
                for i, p in enumerate(parts)]
    except ValueError:
        return None
    if len(nums) < 3:
        return None
    alpha = nums[3] / (100 if parts[3].endswith("%") else 1) if len(nums) > 3 else 1.0
    if m.group(1).startswith("hsl"):
        return (*_hsl(nums[0], nums[1] / 100, nums[2] / 100), alpha)
    return (round(nums[0]), round(nums[1]), round(nums[2]), alpha)


def _hsl(h: float, s: float, lum: float) -> tuple[int, int, int]:
    def channel(n: float) -> int:
        k = (n + h / 30) % 12
        a = s * min(lum, 1 - lum)
        return round(255 * (lum - a * max(-1, min(k - 3, 9 - k, 1))))

    return channel(0), channel(8), channel(4)


def background(style: dict[str, str]) -> tuple[int, int, int, float] | str | None:
    """The declared background colour; ``"image"`` when an image or gradient paints it;
    None when no background is declared (or it is fully transparent)."""
    image = style.get("background-image", "")
    short = style.get("background", "")
    if "url(" in short or "gradient(" in short or (image and image != "none"):
        return "image"
    for source in (style.get("background-color", ""), short):
        for token in _COLOR_TOKEN.findall(source):
            color = parse_color(token)
            if color is not None:
                return color if color[3] > 0 else None
    return None


def same_color(fg: tuple[int, int, int, float], bg: tuple[int, int, int, float]) -> bool:
    """Text colour indistinguishable from the background (or invisible by itself)."""
    if fg[3] == 0:
        return True
    return all(abs(a - b) <= _CLOSE for a, b in zip(fg[:3], bg[:3]))
