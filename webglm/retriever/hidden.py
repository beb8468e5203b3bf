"""Finding the parts of a page a browser would not show, before any extractor reads it.

Hidden text is the classic carrier of prompt injections ("ignore previous
instructions…" in white on white), so it is removed, not just ranked low. An
element is hidden when its attributes say so (``hidden``, ``aria-hidden``,
``<input type=hidden>``) or when its inline style, or a rule of the page's own
``<style>`` sheets, gives it any of:

* ``display: none``, ``visibility: hidden | collapse``, ``opacity: 0``;
* ``font-size: 0`` (its own text; descendants that set a font size again stay);
* ``position: absolute | fixed`` with ``left``/``top``/``right`` at -999px or
  beyond, or a ``text-indent`` that far off (the off-screen tricks);
* a text colour equal (or nearly) to its background: the element's own
  background, else the nearest ancestor's, else the default white page;
  a fully transparent text colour.

Stylesheet rules are read as :mod:`.css` describes (simple selectors, the cascade,
``@media`` for a desktop screen), so a later rule that shows an element again wins.
External stylesheets are never fetched. A stylesheet rule that hides a large share
of the page (``REVEAL_SHARE``) is taken for a "reveal once loaded" trick and ignored.
"""

from __future__ import annotations

from .css import (
    MAX_CSS_CHARS,
    BACKGROUND,
    BACKGROUND_NAME,
    HIDING,
    HIDING_VALUE,
    WHITE,
    Rule,
    Sheet,
    StyleText,
    background,
    cascade,
    declarations,
    hides,
    parse_color,
    same_color,
    zero_font,
)

_NEVER_DROP = frozenset({"html", "head", "body"})  # page-wide hiding is undone by scripts

# --- applying the rules to an lxml tree ------------------------------------------------------

# A stylesheet that hides more than this share of the page's text is a "reveal when loaded"
# trick (scripts show the content), not hidden content: a browser with scripts shows it.
REVEAL_SHARE = 0.3
# ...and holds real content: a few hidden sentences on a short page are an injection, not a
# page waiting for its scripts.
REVEAL_MIN_CHARS = 200
_ANY_XPATH = "//*[@style or @bgcolor or @hidden or @aria-hidden or self::font[@color] or self::input]"


def _attr_hidden(el) -> bool:
    if el.get("hidden") is not None or (el.get("aria-hidden") or "").lower() == "true":
        return True
    return el.tag == "input" and (el.get("type") or "").lower() == "hidden"


def _plain(decls: dict) -> dict[str, str]:
    return {name: value for name, (value, _imp) in decls.items()}


class PageStyles:
    """The page's own stylesheet rules and each element's cascaded declarations (memoised).

    Only rules that can matter are read: those that hide, those naming an element they
    hide (a later rule may show it again), and background rules when a text colour has
    to be compared with what lies under it.
    """

    def __init__(self, tree):
        self.texts, base = [], 0
        for css in tree.xpath("//style/text()"):
            if base + len(css) > MAX_CSS_CHARS:
                break
            self.texts.append(StyleText(str(css), base))
            base += len(css) + 1
        hiding = [r for t in self.texts for r in t.rules_declaring(HIDING_VALUE, HIDING)]
        hiding = [r for r in hiding if hides(_plain(r.decls)) or zero_font(_plain(r.decls))]
        self.tags = {r.tag for r in hiding if r.tag and not r.ident and not r.classes}
        self.ids = {r.ident for r in hiding if r.ident}
        self.classes = {c for r in hiding if not r.ident for c in r.classes}
        keys = [("t", k) for k in self.tags] + [("#", k) for k in self.ids] + [(".", k) for k in self.classes]
        self.sheet = Sheet(hiding + [r for t in self.texts for r in t.rules_naming(keys, HIDING)])
        self._backgrounds: Sheet | None = None
        self._memo: dict = {}

    def backgrounds(self) -> Sheet:
        if self._backgrounds is None:
            self._backgrounds = Sheet([r for t in self.texts for r in t.rules_declaring(BACKGROUND_NAME, BACKGROUND)])
        return self._backgrounds

    def candidates(self, tree) -> list:
        """Elements with hiding attributes or inline styles, and those a hiding rule may match."""
        if not (self.tags or self.ids or self.classes):
            return tree.xpath(_ANY_XPATH)
        out = []
        tags, ids, classes = self.tags, self.ids, self.classes
        for el in tree.iter():  # one pass in Python is cheaper than an XPath per class name
            tag = el.tag
            if tag in tags or el.attrib:
                a = el.attrib
                cls = a.get("class")
                if (tag in tags or "style" in a or "bgcolor" in a or "hidden" in a or "aria-hidden" in a
                        or tag in ("font", "input") or a.get("id") in ids
                        or (cls and not classes.isdisjoint(cls.split()))):
                    out.append(el)
        return out

    def inline(self, el) -> dict[str, str]:
        style, color, bg = el.get("style"), el.get("color"), el.get("bgcolor")
        out = _plain(declarations(style)) if style else {}
        if color and el.tag == "font":  # <font color> and bgcolor: the pre-CSS spellings
            out.setdefault("color", color.lower())
        if bg:
            out.setdefault("background-color", bg.lower())
        return out

    def _matching(self, sheet: Sheet, el) -> list[Rule]:
        if not sheet or not isinstance(el.tag, str):
            return []
        cls = el.get("class")
        return sheet.matching(el.tag, el.get("id"), frozenset(cls.split()) if cls else frozenset())

    def style(self, el, with_background: bool = False) -> dict[str, str]:
        """Cascaded declarations of ``el``: inline, then the page's sheets."""
        key = (el, with_background)
        got = self._memo.get(key)
        if got is None:
            rules = self._matching(self.sheet, el)
            if with_background:
                rules += self._matching(self.backgrounds(), el)
            style = el.get("style")
            inline = declarations(style) if style else {}
            got = cascade(rules, inline) if rules or inline else {}
            for name, value in self.inline(el).items():
                got.setdefault(name, value)
            self._memo[key] = got
        return got


def _invisible_color(el, styles: PageStyles) -> bool:
    fg = parse_color(styles.style(el).get("color", ""))
    if fg is None:
        return False
    node = el
    while node is not None:
        bg = background(styles.style(node, with_background=True))
        if bg == "image":
            return False  # text over a picture: its contrast cannot be judged here
        if isinstance(bg, tuple):
            return same_color(fg, bg)
        node = node.getparent()
    return same_color(fg, WHITE)  # no background anywhere: the page's default white


def _resets_font(el, styles: PageStyles) -> bool:
    return any(zero_font(styles.style(d)) is False for d in el.iterdescendants() if isinstance(d.tag, str))


def _clear_zero_font(el, styles: PageStyles, drop: list) -> None:
    """Blank the text shown at font size 0 under ``el``, keeping descendants that set a size."""
    stack = [el]
    while stack:
        node = stack.pop()
        node.text = None
        for child in node:
            child.tail = None
            if zero_font(styles.style(child)) is False:
                continue
            (stack.append if _resets_font(child, styles) else drop.append)(child)


_TEXT_NODES = ".//text()[not(parent::script) and not(parent::style)]"


def _text_chars(el) -> int:
    return sum(len(t.strip()) for t in el.xpath(_TEXT_NODES))


def _reveal_on_load(el, styles: PageStyles, page_chars: list) -> bool:
    """A sheet (not inline) rule hides a large share of the page: see ``REVEAL_SHARE``."""
    inline = styles.inline(el)
    if hides(inline) or zero_font(inline):
        return False
    if not page_chars:
        page_chars.append(_text_chars(el.getroottree().getroot()))
    chars = _text_chars(el)
    return chars >= REVEAL_MIN_CHARS and chars > REVEAL_SHARE * page_chars[0]


def _blank_own_text(el) -> None:
    """Clear the text directly inside ``el`` (not in its child elements)."""
    el.text = None
    for child in el:
        child.tail = None


def drop_hidden(tree) -> int:
    """Remove hidden elements (see the module docstring) from an lxml tree, in place.

    Call it before ``<style>`` elements are stripped: their rules are read here.
    Returns the number of elements removed or blanked.
    """
    styles = PageStyles(tree)
    drop: list = []
    blanked, page_chars = 0, []  # type: tuple[int, list[int]]
    for el in styles.candidates(tree):
        if el.tag in _NEVER_DROP or not isinstance(el.tag, str):
            continue
        if _attr_hidden(el):
            drop.append(el)
            continue
        style = styles.style(el)
        if hides(style):
            if not _reveal_on_load(el, styles, page_chars):
                drop.append(el)
        elif "color" in style and _invisible_color(el, styles):
            drop.append(el)
        elif zero_font(style):
            blanked += 1
            if not zero_font(styles.inline(el)):
                # Sheets set font-size 0 on layout containers to remove the gaps between
                # inline blocks, and size the children again with selectors not read here.
                _blank_own_text(el)
            elif _resets_font(el, styles):
                _clear_zero_font(el, styles, drop)
            else:
                drop.append(el)
    for el in drop:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the element's tail, which is outside it
    return len(drop) + blanked
