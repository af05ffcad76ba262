"""Corpus BLEU-1..4 exactly as the COCO caption toolkit (pycocoevalcap's bleu_scorer.py) scores it.

Hand-written because pycocoevalcap needs Java to tokenise and is slow, and nltk's `corpus_bleu`
follows other conventions (it returns 0 for an n-gram order without any match, and a hypothesis
shorter than n tokens adds 1 to that order's denominator). Conventions kept from the toolkit:
clipped n-gram counts and lengths summed over the corpus; brevity penalty exp(1 - r/c) with r the
sum of the reference lengths closest to each hypothesis length (ties go to the shorter); the
constants 1e-15 (numerator) and 1e-9 (denominator) instead of smoothing; a hypothesis shorter than
n tokens adds nothing to the n-gram counts.
"""

import math
from collections import Counter
from itertools import chain
from typing import Mapping, Sequence

from caption_aug.evaluation import ptb_tokenizer

_TINY = 1e-15  # the toolkit's numerator constant: a score with no match is ~0, never a crash
_SMALL = 1e-9  # its denominator constant


def _ngrams(tokens, max_n):
    """All 1..max_n-grams of a token list, as tuples (their length is their order)."""
    shifted = [tokens[i:] for i in range(max_n)]
    return list(chain.from_iterable([zip(*shifted[:n]) for n in range(1, max_n + 1)]))


def _clipped_matches(hyp, refs):
    """{order: matches}: hypothesis n-grams found in the references, clipped per n-gram.

    An n-gram counts at most as often as it occurs in the reference that holds it most often.
    """
    seen = set().union(*refs)
    counts = Counter(hyp)
    if len(counts) == len(hyp):  # no repeated n-gram (the common case): a set intersection
        return Counter(map(len, seen.intersection(hyp)))
    matches = Counter()
    for gram, count in counts.items():
        if gram in seen:
            clip = 1 if count == 1 else min(count, max(ref.count(gram) for ref in refs))
            matches[len(gram)] += clip
    return matches


def _closest_length(lengths, hyp_len):
    """The reference length closest to the hypothesis length; ties go to the shorter one."""
    return min(lengths, key=lambda length: (abs(length - hyp_len), length))


def bleu_from_tokens(hypotheses: Sequence[Sequence[str]],
                     references: Sequence[Sequence[Sequence[str]]], max_n: int = 4) -> list:
    """Corpus BLEU-1..max_n of already tokenised hypotheses (one per image) and their references.

    `references[i]` holds the token lists of image i's references (at least one).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    matches = [0] * max_n
    guesses = [0] * max_n
    hyp_total = ref_total = 0
    for hyp, refs in zip(hypotheses, references):
        if not refs:
            raise ValueError("every hypothesis needs at least one reference")
        hyp_total += len(hyp)
        ref_total += _closest_length([len(ref) for ref in refs], len(hyp))
        found = _clipped_matches(_ngrams(hyp, max_n), [_ngrams(ref, max_n) for ref in refs])
        for n in range(1, min(len(hyp), max_n) + 1):
            guesses[n - 1] += len(hyp) - n + 1
            matches[n - 1] += found[n]
    scores = []
    product = 1.0
    for n in range(max_n):
        product *= (matches[n] + _TINY) / (guesses[n] + _SMALL)
        scores.append(product ** (1.0 / (n + 1)))
    ratio = (hyp_total + _TINY) / (ref_total + _SMALL)
    if ratio < 1:
        scores = [score * math.exp(1 - 1 / ratio) for score in scores]
    return scores


def corpus_bleu(hypotheses: Mapping, references: Mapping, max_n: int = 4) -> dict:
    """{"Bleu_1": .., "Bleu_<max_n>": ..} for raw captions, tokenised as the toolkit does.

    `hypotheses` maps image id -> caption; `references` maps image id -> list of captions. Every
    hypothesis id must have references; references of other images are ignored (as the toolkit does
    with `params['image_id'] = cocoRes.getImgIds()`). Images are taken in the order of
    `references`, the order in which the toolkit hands captions to its tokenizer.
    """
    missing = [image_id for image_id in hypotheses if image_id not in references]
    if missing:
        raise ValueError(f"{len(missing)} hypothesis image ids have no references, "
                         f"e.g. {missing[0]}")
    image_ids = [image_id for image_id in references if image_id in hypotheses]
    hyp_tokens = ptb_tokenizer.tokenize(hypotheses[image_id] for image_id in image_ids)
    ref_tokens = ptb_tokenizer.tokenize_groups(references[image_id] for image_id in image_ids)
    scores = bleu_from_tokens(hyp_tokens, ref_tokens, max_n)
    return {f"Bleu_{n + 1}": score for n, score in enumerate(scores)}
