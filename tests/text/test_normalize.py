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


def test_captions_without_a_printable_character_are_not_printable():
    for caption in ("\u0000\u0007\u001b\u007f", "\x00 \x07", "\u200b", "\u200b.", "\x9b\x85"):
        assert normalize.caption_problem(caption, max_words=5) == "caption_not_printable", caption
    for caption in ("\u3000", "\x1c\n", "..."):  # whitespace (and periods) alone stays "empty"
        assert normalize.caption_problem(caption, max_words=5) == "caption_empty", caption
    assert normalize.caption_problem("\x00a cat\x07", max_words=5) is None


def test_normalize_turns_control_characters_into_spaces():
    assert normalize.normalize_caption("A\x00dog\x1b runs\x7f.\x07") == "a dog runs"
    assert normalize.normalize_caption("caf\u00e9 \u2014 ok") == "caf\u00e9 \u2014 ok"
