"""Removing terminal control sequences from untrusted text before it is stored or shown.

Retrieved pages and corpus files can carry ANSI/VT escape sequences (``ESC [ … m``
colours, ``ESC ] 0 ; title BEL`` that sets the terminal title, cursor moves that
overwrite earlier output) and raw control characters. Printed as they are, a
document could rewrite what the user sees in their terminal. Text is therefore
cleaned when it is extracted or read from a corpus, and again when the CLI prints
it. Line feeds and tabs are kept; a carriage return before a line feed is kept
as a plain line break, a lone one (which moves the cursor back over a line) is not.
"""

from __future__ import annotations

import re

# Whole escape sequences first, so their parameters ("0;title", "31m") go with them:
# OSC/DCS/APC/PM/SOS strings up to BEL or ST (ESC \\), CSI sequences, then two-byte ESC x.
# A string whose terminator is missing ends at the line end (or after 512 characters), so
# a stray ESC cannot swallow the rest of a document. 8-bit C1 forms are removed singly.
_SEQUENCES = re.compile(
    r"\x1b[\]PX^_][^\x07\x1b\x9c\n]{0,512}(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]{0,64}[ -/]{0,8}[@-~]?"
    r"|\x1b[ -/]{0,8}[0-~]?"
)
# What is left: C0 controls except tab and line feed, DEL, and the C1 range.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """``text`` without escape sequences and control characters (``\\n`` and ``\\t`` kept).

    ``\\r\\n`` becomes ``\\n``; a form feed or vertical tab becomes a line feed, since
    both separate lines in documents. Text without control characters is returned
    unchanged (the common case costs one regex scan).
    """
    if not _CONTROLS.search(text):
        return text
    text = text.replace("\r\n", "\n").replace("\x0c", "\n").replace("\x0b", "\n")
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def has_controls(text: str) -> bool:
    """True when :func:`strip_controls` would change ``text``."""
    return bool(_CONTROLS.search(text))
