"""Show-Attend-Tell training loss: masked cross-entropy + alpha_c * doubly stochastic attention term.

Targets may be int ids [B, T] or soft rows [B, T, V] (one-hot or relaxed synthetic captions).
The soft cross-entropy is written as -sum(p * log_softmax(logits)) on purpose: TensorFlow's fused
softmax cross-entropy returns a zero mixed second derivative (d/dp of d loss/d logits), which
would silently zero a nested-tape hypergradient through this loss.
"""

from typing import NamedTuple, Optional

from keras import ops

from caption_aug import distribute
from caption_aug import precision
from caption_aug.models.captioner.decoder import is_soft


class CaptionLoss(NamedTuple):
    """`total` = `cross_entropy` + alpha_c * `attention_penalty`; `per_example` [B] is the same
    total for each caption alone (unweighted), for logging and per-example weights upstream."""
    total: object
    cross_entropy: object
    attention_penalty: object
    per_example: object


def teacher_forcing(tokens, padding_mask):
    """(decoder inputs, targets, target mask): inputs are tokens[:, :-1], targets tokens[:, 1:].
    `tokens` may be ids [B, T] or soft rows [B, T, V]."""
    return tokens[:, :-1], tokens[:, 1:], padding_mask[:, 1:]


def teacher_forced_loss(call, image, tokens, padding_mask, alpha_c: float):
    """(CaptionLoss, the captioner's outputs) of one teacher-forced batch: `call(inputs)` runs
    the captioner (a plain call, or a stateless one on explicit weights); `tokens` are ids or
    (soft) one-hots."""
    inputs, targets, target_mask = teacher_forcing(tokens, padding_mask)
    out = call({"image": image, "tokens": inputs})
    return caption_loss(out["logits"], targets, target_mask, out.get("alphas"), alpha_c), out


def token_cross_entropy(logits, targets):
    """[B, T] cross-entropy of int or soft targets; soft ones as -sum(p * log_softmax(logits))."""
    log_probs = ops.log_softmax(logits, axis=-1)
    if is_soft(targets):
        return -ops.sum(ops.cast(targets, log_probs.dtype) * log_probs, axis=-1)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(ops.cast(targets, "int32"), -1), axis=-1)
    return -ops.squeeze(picked, -1)


def caption_loss(logits, targets, target_mask, alphas, alpha_c: float,
                 example_weights: Optional[object] = None) -> CaptionLoss:
    """Loss of a teacher-forced batch. `logits` [B, T, V], `alphas` [B, T, P] (None: a decoder
    without attention, no penalty), `target_mask` [B, T]
    (False on padding, which then changes nothing), `example_weights` [B] (default 1) scale each
    caption's terms.

    Cross-entropy is averaged over the batch's target tokens, as the reference does (its packed
    sequences); the attention penalty sum_p (1 - sum_t alpha_tp)^2 sums alpha over real steps only and
    is averaged over pixels and captions. Under a strategy of several replicas both averages
    divide by the global batch's counts: each replica's loss is its share of the global one.
    """
    mask = ops.cast(target_mask, logits.dtype)
    weights = (ops.ones_like(mask[:, 0]) if example_weights is None
               else ops.cast(example_weights, logits.dtype))
    token_ce = token_cross_entropy(logits, targets) * mask
    tokens_per_caption = ops.maximum(ops.sum(mask, axis=1), 1.0)
    cross_entropy = (ops.sum(weights * ops.sum(token_ce, axis=1))
                     / ops.maximum(distribute.global_sum(ops.sum(mask)), 1.0))
    if alphas is None:
        penalty_per_caption = ops.zeros_like(weights)
    else:
        attention_total = ops.sum(ops.cast(alphas, logits.dtype) * ops.expand_dims(mask, -1),
                                  axis=1)
        penalty_per_caption = ops.mean(ops.square(1.0 - attention_total), axis=-1)
    attention_penalty = distribute.global_mean(weights * penalty_per_caption)
    per_example = (ops.sum(token_ce, axis=1) / tokens_per_caption + alpha_c * penalty_per_caption)
    return CaptionLoss(cross_entropy + alpha_c * attention_penalty, cross_entropy,
                       attention_penalty, per_example)


def attention_supervision_loss(alphas, token_objects, object_masks):
    """Mean over the target tokens that name an object (`token_objects` [B, T] > 0: object k + 1)
    of the cross-entropy -sum_p m_p log alpha_p between the attention that predicts the token
    (`alphas` [B, T, P]) and its object's mask (`object_masks` [B, objects, P], rows summing to
    1); 0 when no token names one. Global counts under a strategy, as `caption_loss`."""
    alphas = precision.full_precision(alphas)
    grounded = ops.cast(token_objects > 0, alphas.dtype)
    index = ops.expand_dims(ops.maximum(ops.cast(token_objects, "int32") - 1, 0), -1)
    index = ops.broadcast_to(index, ops.shape(alphas))
    targets = ops.take_along_axis(ops.cast(object_masks, alphas.dtype), index, axis=1)
    cross_entropy = -ops.sum(targets * ops.log(alphas + 1e-8), axis=-1)
    return (ops.sum(cross_entropy * grounded)
            / ops.maximum(distribute.global_sum(ops.sum(grounded)), 1.0))
