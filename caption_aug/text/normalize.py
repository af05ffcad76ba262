"""Caption normalisation and caption checks: the one place that decides what a clean caption is."""

import re
import unicodedata
from typing import Optional

from caption_aug.text import text_io

_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_TRAILING_PERIODS = re.compile(r"[\s.]+$")


def normalize_caption(text: str) -> str:
    """Unicode NFKC, lower case, control characters as spaces (as tabs and line breaks already
    are), single spaces, no surrounding whitespace or sentence-final period."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFKC", text).lower())
    text = _WHITESPACE.sub(" ", text).strip()
    return _TRAILING_PERIODS.sub("", text)


def _printable(char: str) -> bool:
    """A letter, mark, number, punctuation or symbol: not a control, format, unassigned,
    private-use or space character (Unicode categories C* and Z*)."""
    return unicodedata.category(char)[0] not in "CZ"


def caption_problem(text: str, max_words: int) -> Optional[str]:
    """Why a raw caption is unusable (a skip reason), or None when it is fine.

    A caption with no printable character once normalised is "caption_not_printable" when it held
    control or other invisible characters ("\\x00\\x07", a zero-width space), else "caption_empty"
    (only whitespace or periods). Over-long captions are skipped rather than cut: a cut caption
    would teach the LM and the captioner to stop mid-sentence.
    """
    if not text_io.is_valid_utf8(text):
        return "caption_not_utf8"
    normalized = normalize_caption(text)
    if not any(map(_printable, normalized)):
        invisible = any(not char.isspace() and not _printable(char) for char in text)
        return "caption_not_printable" if invisible else "caption_empty"
    words = normalized.split()
    if len(words) > max_words:
        return "caption_too_long"
    return None
