"""Caption normalisation and caption checks: the one place that decides what a clean caption is."""

import re
import unicodedata
from typing import Optional

from caption_aug.data import text_io

_WHITESPACE = re.compile(r"\s+")
_TRAILING_PERIODS = re.compile(r"[\s.]+$")


def normalize_caption(text: str) -> str:
    """Unicode NFKC, lower case, single spaces, no surrounding whitespace or sentence-final period."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _WHITESPACE.sub(" ", text).strip()
    return _TRAILING_PERIODS.sub("", text)


def caption_problem(text: str, max_words: int) -> Optional[str]:
    """Why a raw caption is unusable (a skip reason), or None when it is fine.

    Over-long captions are skipped rather than cut: a cut caption would teach the LM and the
    captioner to stop mid-sentence.
    """
    if not text_io.is_valid_utf8(text):
        return "caption_not_utf8"
    words = normalize_caption(text).split()
    if not words:
        return "caption_empty"
    if len(words) > max_words:
        return "caption_too_long"
    return None
