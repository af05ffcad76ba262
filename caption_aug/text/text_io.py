"""Reading annotation text files so that bad bytes in one caption never sink the whole file."""

import os


def read_text(path: str) -> str:
    """Returns the file's text; bytes that are not UTF-8 survive as surrogate escapes.

    Raises FileNotFoundError naming the path (one line) when the file is missing.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"annotation file not found: {path}")
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="surrogateescape")


def is_valid_utf8(text: str) -> bool:
    """False when `text` carries surrogate escapes, i.e. its source bytes were not UTF-8."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
