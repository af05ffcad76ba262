from caption_aug.text import normalize


def test_normalize_lowercases_and_collapses_whitespace():
    assert normalize.normalize_caption("  A Man\triding a\n HORSE.  ") == "a man riding a horse"


def test_normalize_keeps_inner_punctuation():
    assert normalize.normalize_caption("Mr. Smith's dog, outside.") == "mr. smith's dog, outside"


def test_caption_problems():
    assert normalize.caption_problem("a cat", max_words=5) is None
    assert normalize.caption_problem("", max_words=5) == "caption_empty"
    assert normalize.caption_problem(" \t\n ", max_words=5) == "caption_empty"
    assert normalize.caption_problem(" ".join(["word"] * 6), max_words=5) == "caption_too_long"
    bad = b"a caf\xe9 sign".decode("utf-8", errors="surrogateescape")
    assert normalize.caption_problem(bad, max_words=5) == "caption_not_utf8"
