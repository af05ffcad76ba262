"""Caption LM evaluation: held-out perplexity, diversity and novelty of generated captions, and on
caption_shapes the share of generated captions that describe a possible scene.
"""

import math
import random
from typing import Dict, Iterable, Sequence

import numpy as np

from caption_aug.data.caption_shapes import parse_caption
from caption_aug.data.caption_shapes.scene import MAX_OBJECTS
from caption_aug.evaluation import bleu
from caption_aug.evaluation import ptb_tokenizer
from caption_aug.models import caption_lm

# Relations that cannot hold both ways between the same two objects.
_OPPOSITES = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def perplexity(model, dataset: Iterable[dict]) -> float:
    """exp(mean token cross-entropy) over every target token of an `lm_dataset` (unweighted)."""
    total_nll = total_tokens = 0.0
    for batch in dataset:
        losses = caption_lm.batch_losses(model, batch).numpy()
        tokens = batch["padding_mask"].numpy()[:, 1:].sum(axis=1)
        total_nll += float((losses * tokens).sum())
        total_tokens += float(tokens.sum())
    return math.exp(total_nll / max(total_tokens, 1.0))


def word_ngrams(captions: Iterable[str], n: int) -> list:
    """Every word n-gram of every caption, as tuples, in order."""
    return [tuple(words[k:k + n]) for words in (c.split() for c in captions)
            for k in range(len(words) - n + 1)]


def distinct_n(captions: Sequence[str], n: int) -> float:
    """Distinct-n: unique word n-grams / all word n-grams over the generated corpus."""
    ngrams = word_ngrams(captions, n)
    return len(set(ngrams)) / len(ngrams) if ngrams else 0.0


def novelty(captions: Sequence[str], training_captions: Iterable[str]) -> float:
    """Fraction of generated captions that are not, word for word, a training caption."""
    seen = {" ".join(c.split()) for c in training_captions}
    return float(np.mean([" ".join(c.split()) not in seen for c in captions])) if captions else 0.0


def self_bleu(captions: Sequence[str], max_captions: int = 200, seed: int = 0) -> float:
    """Self-BLEU-4: each caption scored (COCO-toolkit BLEU) against all the others as references;
    lower means more diverse. On a seeded sample of `max_captions` (the cost is quadratic)."""
    captions = list(captions)
    if len(captions) < 2:
        return 0.0
    if len(captions) > max_captions:
        captions = random.Random(seed).sample(captions, max_captions)
    tokens = ptb_tokenizer.tokenize(captions)
    references = [tokens[:k] + tokens[k + 1:] for k in range(len(tokens))]
    return bleu.bleu_from_tokens(tokens, references)[3]


def describes_valid_scene(caption: str) -> bool:
    """Whether a caption_shapes caption parses to a scene that could exist: 1 to MAX_OBJECTS
    objects, a stated count equal to the objects described, no object related to itself and no
    relation stated both ways (a left of b and b left of a, or a above b and a below b)."""
    claims = parse_caption(caption)
    if not 1 <= len(claims.objects) <= MAX_OBJECTS:
        return False
    if claims.count is not None and claims.count != len(claims.objects):
        return False
    stated = {(r.subject, r.relation, r.object) for r in claims.relations}
    for subject, relation, obj in stated:
        if subject == obj or (obj, relation, subject) in stated or (
                subject, _OPPOSITES[relation], obj) in stated:
            return False
    return True


def valid_scene_fraction(captions: Sequence[str]) -> float:
    """Share of captions for which `describes_valid_scene` holds."""
    return float(np.mean([describes_valid_scene(c) for c in captions])) if captions else 0.0


def generation_metrics(generated: Sequence[str], training_captions: Sequence[str],
                       caption_shapes: bool) -> Dict[str, float]:
    """distinct-1/2, novelty, self-BLEU-4, and on caption_shapes the valid-scene fraction."""
    metrics = {"distinct_1": distinct_n(generated, 1), "distinct_2": distinct_n(generated, 2),
               "novelty": novelty(generated, training_captions),
               "self_bleu_4": self_bleu(generated)}
    if caption_shapes:
        metrics["valid_scene_fraction"] = valid_scene_fraction(generated)
    return metrics


def example_table(prompts: Sequence[str], generated: Sequence[str],
                  originals: Sequence[str]) -> str:
    """Markdown table of prompt / generated caption / the real caption it came from (Table 1)."""
    escape = lambda text: text.replace("|", "\\|")
    rows = ["| prompt | generated caption | real caption |", "| --- | --- | --- |"]
    rows += [f"| {escape(p)} | {escape(g)} | {escape(o)} |"
             for p, g, o in zip(prompts, generated, originals)]
    return "\n".join(rows)

