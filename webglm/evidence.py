"""Evidence quotes back in their pages.

An :class:`~webglm.types.Evidence` quote is an exact slice of its reference passage. Passages cut
from web pages have their whitespace collapsed, so where a passage is not a verbatim slice of
its page, ``page_start``/``page_end`` are -1; :func:`locate_in_page` finds the exact offsets
given the page's extracted text.
"""

from __future__ import annotations

import re

from .types import Evidence, Passage


def locate_in_page(page_text: str, passage: Passage, evidence: Evidence) -> tuple[int, int] | None:
    """``(start, end)`` of the evidence quote in ``page_text`` (the extracted text the passage
    was cut from), searched within the passage's span; None when it is not there."""
    if evidence.page_start >= 0 and page_text[evidence.page_start:evidence.page_end] == evidence.quote:
        return evidence.page_start, evidence.page_end
    words = evidence.quote.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(map(re.escape, words)))
    end = passage.end if passage.end > passage.start else len(page_text)
    m = pattern.search(page_text, max(0, passage.start), end) or pattern.search(page_text)
    return (m.start(), m.end()) if m else None
