import collections
import json
import math
import os
import shutil

import pytest

from caption_aug.evaluation import bleu
from caption_aug.evaluation import ptb_tokenizer

# pycocoevalcap 1.2 on val2017, caption 1 of each image against its other captions (seen here).
TOOLKIT_VAL2017 = [0.634471, 0.437380, 0.294129, 0.195539]
TOLERANCE = 2e-4
JAVA = shutil.which("java")


def _toolkit():
    """pycocoevalcap's PTBTokenizer and Bleu, or a skip naming what is missing."""
    if JAVA is None:
        pytest.skip("java is not on PATH: the live pycocoevalcap run needs its Java tokenizer")
    tokenizer = pytest.importorskip("pycocoevalcap.tokenizer.ptbtokenizer",
                                    reason="pycocoevalcap is not installed (extra: coco-eval)")
    scorer = pytest.importorskip("pycocoevalcap.bleu.bleu")
    return tokenizer.PTBTokenizer(), scorer.Bleu(4)


@pytest.fixture(scope="module")
def val2017_split(coco_sample_dir):
    """Caption 1 (the image's first annotation in file order) as hypothesis, the rest as references.

    This is the split that gives the toolkit's 0.634471; taking the lowest annotation id instead
    picks the same captions on val2017.
    """
    with open(os.path.join(coco_sample_dir, "captions_val2017.json")) as f:
        data = json.load(f)
    by_image = collections.defaultdict(list)
    for annotation in data["annotations"]:
        by_image[annotation["image_id"]].append(annotation["caption"])
    image_ids = [image["id"] for image in data["images"]]
    hypotheses = {i: by_image[i][0] for i in image_ids}
    references = {i: by_image[i][1:] for i in image_ids}
    return hypotheses, references


def test_val2017_matches_the_toolkit_figures(val2017_split):
    scores = bleu.corpus_bleu(*val2017_split)
    assert list(scores) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"]
    assert list(scores.values()) == pytest.approx(TOOLKIT_VAL2017, abs=TOLERANCE)


def test_val2017_matches_a_live_toolkit_run(val2017_split):
    tokenizer, scorer = _toolkit()
    hypotheses, references = val2017_split
    res = tokenizer.tokenize({i: [{"caption": c}] for i, c in hypotheses.items()})
    gts = tokenizer.tokenize({i: [{"caption": c} for c in references[i]] for i in hypotheses})
    toolkit, _ = scorer.compute_score(gts, res, verbose=0)
    ours = bleu.corpus_bleu(hypotheses, references)
    assert list(ours.values()) == pytest.approx(toolkit, abs=TOLERANCE)
    assert toolkit == pytest.approx(TOOLKIT_VAL2017, abs=1e-6)


def test_tokenizer_matches_java_on_every_val2017_caption(coco_val_captions):
    tokenizer, _ = _toolkit()
    java = tokenizer.tokenize({i: [{"caption": c}] for i, c in enumerate(coco_val_captions)})
    ours = ptb_tokenizer.tokenize(coco_val_captions)
    mismatches = [(c, java[i][0].split(), ours[i]) for i, c in enumerate(coco_val_captions)
                  if java[i][0].split() != ours[i]]
    assert mismatches == []


def _bleu(hypotheses, references):
    return bleu.bleu_from_tokens([h.split() for h in hypotheses],
                                 [[r.split() for r in refs] for refs in references])


def test_identical_hypothesis_and_reference_score_one():
    assert _bleu(["a man rides a horse"], [["a man rides a horse"]]) == pytest.approx([1.0] * 4)


def test_brevity_penalty_uses_the_corpus_lengths():
    # 3 hypothesis tokens against 6: every precision is 1, the penalty is exp(1 - 6/3).
    scores = _bleu(["a b c"], [["a b c d e f"]])
    assert scores[:3] == pytest.approx([math.exp(-1)] * 3)


def test_closest_reference_length_ties_go_to_the_shorter():
    # Lengths 3 and 5 are both 1 away from 4; the toolkit takes 3, so there is no penalty.
    assert _bleu(["a b c d"], [["a b c", "a b c d e"]])[0] == pytest.approx(1.0)
    # The closest length (4) counts, not the shortest (1) or the average (13 / 3).
    refs = [["a", "a b c d", "a b c d e f g h"]]
    assert _bleu(["a b c"], refs)[0] == pytest.approx(math.exp(1 - 4 / 3))


def test_counts_are_clipped_by_the_reference_with_most_copies():
    assert _bleu(["the the the the"], [["the cat"]])[0] == pytest.approx(0.25)
    # max over references (3), not their sum (5, which would clip to 4 and score 1.0)
    refs = [["the the cat", "the cat the the"]]
    assert _bleu(["the the the the"], refs)[0] == pytest.approx(0.75)


def test_counts_are_summed_over_the_corpus_not_averaged():
    scores = _bleu(["a b", "c d e f"], [["a b"], ["w x y z"]])
    assert scores[0] == pytest.approx(2 / 6)  # the mean of the two sentence scores would be 0.5


def test_hypothesis_shorter_than_n_adds_nothing_and_keeps_a_tiny_score():
    # Three tokens: no 4-gram, so BLEU-4's precision is (0 + 1e-15) / (0 + 1e-9) = 1e-6 (nltk: 0).
    scores = _bleu(["a b c"], [["a b c"]])
    assert scores[:3] == pytest.approx([1.0] * 3)
    assert scores[3] == pytest.approx(1e-6 ** 0.25)
    # In a corpus, the short hypothesis adds no 4-gram to the denominator (nltk adds 1).
    scores = _bleu(["a b c", "p q r s"], [["a b c"], ["p q r s"]])
    assert scores == pytest.approx([1.0] * 4)


def test_no_match_gives_a_near_zero_score_not_an_error():
    assert _bleu(["x y z w"], [["a b c d"]]) == pytest.approx([0.0] * 4, abs=1e-6)


def test_corpus_bleu_tokenises_like_the_toolkit():
    scores = bleu.corpus_bleu({1: "A Dog, running."}, {1: ["a dog running", "cats"]})
    assert list(scores.values()) == pytest.approx([1.0, 1.0, 1.0, 1e-6 ** 0.25])


def test_corpus_bleu_refuses_hypotheses_without_references():
    with pytest.raises(ValueError, match="no references, e.g. 7"):
        bleu.corpus_bleu({7: "a dog"}, {1: ["a dog"]})


@pytest.mark.parametrize("caption, tokens", [
    ("Don't touch the man's hat.", ["do", "n't", "touch", "the", "man", "'s", "hat"]),
    ("It's a CAN'T-miss shot, isn't it?",
     ["it", "'s", "a", "ca", "n't", "miss", "shot", "is", "n't", "it"]),
    ("A well-known high-five; x-ray!", ["a", "well-known", "high-five", "x-ray"]),
    ('A "Stop" sign, \'quoted\' text...', ["a", "stop", "sign", "quoted", "text"]),
    ("Mr. Smith in the U.S. at 3.5 p.m.",
     ["mr.", "smith", "in", "the", "u.s.", "at", "3.5", "p.m."]),
    ("A clock reads 12:30, 10/20/2014", ["a", "clock", "reads", "12:30", "10/20/2014"]),
    ("a (red) car [sic]", ["a", "-lrb-", "red", "-rrb-", "car", "-lsb-", "sic", "-rsb-"]),
    ("You cannot, gonna wanna", ["you", "can", "not", "gon", "na", "wan", "na"]),
    ("Wow!! Really?!", ["wow", "!!", "really", "?!"]),
    ("AT&T and at&t, 50% off $5", ["at&t", "and", "at", "&", "t", "50", "%", "off", "$", "5"]),
    ("“Curly” ‘quotes’ don’t", ["curly", "quotes", "do", "n't"]),
    ("Plan B. The end.", ["plan", "b", "the", "end"]),
    ("the letter A. near Dr. Who's house", ["the", "letter", "a.", "near", "dr.", "who", "'s",
                                             "house"]),
    ("<unk> a dog <end>", ["<unk>", "a", "dog", "<end>"]),
    ("2 1/2 cups, (555) 123-4567", ["2", "1/2", "cups", "-lrb-555-rrb-", "123-4567"]),
    ("cafe\u0301 na\u0308ive", ["cafe\u0301", "na\u0308ive"]),  # combining marks stay in words
])
def test_tokenizer_on_tricky_strings(caption, tokens):
    assert ptb_tokenizer.tokenize_caption(caption) == tokens


def test_tokenizer_peeks_at_the_next_caption_like_java():
    # PTBLexer reads "K." before a line that starts with "A" as the letter K ending a sentence.
    assert ptb_tokenizer.tokenize(["a sign that reads K.", "A man"])[0][-1] == "k"
    assert ptb_tokenizer.tokenize(["a sign that reads K.", "some man"])[0][-1] == "k."
    assert ptb_tokenizer.tokenize(["a sign that reads K."])[0][-1] == "k."
