"""Stage 1: the GPT-2 caption language model (keras-hub), its per-caption weighted loss, generation
from caption prompts, and the straight-through one-hot path that lets stage 4 differentiate
through generated captions.

The model is a plain `keras_hub.models.GPT2CausalLM` without a preprocessor: every function here
takes token ids framed by the shared tokenizer (`<|endoftext|> caption <|endoftext|>`). Functions
that stage 4 calls with perturbed weights take an optional `state=(trainable, non_trainable)` and
then run the model through Keras 3's `stateless_call`, leaving its variables untouched.
"""

from typing import List, Optional, Sequence, Tuple

import keras_hub
import numpy as np
import tensorflow as tf

from caption_aug import precision

State = Optional[Tuple[Sequence, Sequence]]


def build_caption_lm(lm_config, vocabulary_size: int) -> keras_hub.models.GPT2CausalLM:
    """A GPT2CausalLM from `lm_config.preset` (name, `hf://` handle or local folder), or from
    scratch at the configured size over the shared tokenizer's vocabulary when the preset is ""."""
    if lm_config.preset:
        model = keras_hub.models.GPT2CausalLM.from_preset(lm_config.preset, preprocessor=None)
        if model.backbone.vocabulary_size != vocabulary_size:
            raise ValueError(
                f"config key lm.preset={lm_config.preset!r} has a vocabulary of "
                f"{model.backbone.vocabulary_size} tokens but the shared tokenizer has "
                f"{vocabulary_size}: set tokenizer.source to the same preset")
        return model
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocabulary_size, num_layers=lm_config.num_layers,
        num_heads=lm_config.num_heads, hidden_dim=lm_config.hidden_dim,
        intermediate_dim=lm_config.intermediate_dim, dropout=lm_config.dropout,
        max_sequence_length=lm_config.max_sequence_length)
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)


def initial_weight_logits(num_captions: int, initial_weight: float) -> np.ndarray:
    """A_i = logit(a0) for every training caption, so that a_i = sigmoid(A_i) starts at a0."""
    if not 0.0 < initial_weight < 1.0:
        raise ValueError(
            f"initial caption weight must lie strictly in (0, 1), got {initial_weight}")
    return np.full([num_captions], np.log(initial_weight / (1.0 - initial_weight)), np.float32)


def lm_logits(model, token_ids, padding_mask, training: bool = False, state: State = None):
    """Logits [B, T, V] of the next token at every position; with `state`, a stateless call."""
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    if state is None:
        return model(inputs, training=training)
    logits, _ = model.stateless_call(state[0], state[1], inputs, training=training)
    return logits


def caption_losses(logits, token_ids, padding_mask):
    """L_i per caption [B]: mean cross-entropy of tokens 1..T-1 over its non-padding targets.

    Written as -log_softmax picked at the target (not the fused TF op), so that second derivatives
    through it are correct for the exact hypergradient.
    """
    targets = token_ids[:, 1:]
    log_probs = tf.nn.log_softmax(precision.full_precision(logits[:, :-1]), axis=-1)
    target_mask = tf.cast(padding_mask[:, 1:], log_probs.dtype)
    token_nll = -tf.gather(log_probs, targets, batch_dims=2)
    return tf.reduce_sum(token_nll * target_mask, axis=1) / tf.maximum(
        tf.reduce_sum(target_mask, axis=1), 1.0)


def caption_weights(weight_logits, caption_index):
    """a_i = sigmoid(A_i) for the captions of a batch."""
    return tf.sigmoid(tf.gather(weight_logits, caption_index))


def weighted_lm_loss(losses, weight_logits, caption_index):
    """sum_i a_i L_i over the batch; differentiable in the losses (G) and `weight_logits` (A)."""
    return tf.reduce_sum(caption_weights(weight_logits, caption_index) * losses)


def batch_losses(model, batch: dict, training: bool = False, state: State = None):
    """Per-caption losses L_i [B] of an `lm_dataset` batch."""
    logits = lm_logits(model, batch["token_ids"], batch["padding_mask"], training, state)
    return caption_losses(logits, batch["token_ids"], batch["padding_mask"])


def make_sampler(generation_config, seed: Optional[int] = None):
    """The keras-hub sampler named by `generation_config.sampler`: beam, greedy, top_k or top_p."""
    name = generation_config.sampler
    temperature = generation_config.temperature
    if name == "beam":
        return keras_hub.samplers.BeamSampler(num_beams=generation_config.num_beams,
                                              temperature=temperature)
    if name == "greedy":
        return keras_hub.samplers.GreedySampler(temperature=temperature)
    if name == "top_k":
        return keras_hub.samplers.TopKSampler(k=generation_config.top_k, seed=seed,
                                              temperature=temperature)
    if name == "top_p":
        return keras_hub.samplers.TopPSampler(p=generation_config.top_p, seed=seed,
                                              temperature=temperature)
    raise ValueError(f"config key lm.generation.sampler={name!r} is invalid")


def compile_for_generation(model, generation_config, seed: Optional[int] = None,
                           jit_compile: bool = True) -> None:
    """Sets the configured sampler for `generate`, by default XLA-compiled: on CPU that makes beam
    search about 4x faster than keras-hub's default (seen here: 56 vs 13 captions/s, beam 2),
    at the price of a few seconds of compilation per batch shape."""
    model.compile(sampler=make_sampler(generation_config, seed), jit_compile=jit_compile)


def prompt_texts(captions: Sequence[str], prompt_words: int) -> List[str]:
    """Each caption's first `prompt_words` words (at most all words but the last, so there is
    always something left to generate)."""
    texts = []
    for caption in captions:
        words = caption.split()
        texts.append(" ".join(words[:max(1, min(prompt_words, len(words) - 1))]))
    return texts


def prompt_tokens(captions: Sequence[str], tokenizer, prompt_words: int) -> List[List[int]]:
    """Token ids of `prompt_texts`. Byte-level BPE splits at spaces, so these ids are exactly the
    prefix of the full caption's ids."""
    return tokenizer.encode(prompt_texts(captions, prompt_words))


def generate_batch(model, token_ids: np.ndarray, padding_mask: np.ndarray,
                   stop_token_ids: Optional[Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """One batch through keras-hub's compiled `generate` with the sampler set by `model.compile`:
    positions where `padding_mask` is True are the prompt; the rest (up to the array's length) is
    generated. Returns the filled token ids and the mask of kept (prompt + generated) positions."""
    out = model.generate({"token_ids": token_ids, "padding_mask": padding_mask},
                         stop_token_ids=None if stop_token_ids is None else tuple(stop_token_ids))
    return np.asarray(out["token_ids"]), np.asarray(out["padding_mask"])


def generate_captions(model, tokenizer, prompts: Sequence[Sequence[int]], max_length: int,
                      batch_size: int) -> List[List[int]]:
    """Caption token ids (prompt + continuation, no start/end, at most `max_length` tokens) for each
    prompt, generated in fixed-shape batches (the last one padded) so the function traces once."""
    sequence_length = max_length + 2  # start token + caption + end token
    results = []
    for begin in range(0, len(prompts), batch_size):
        chunk = [list(p)[:max_length] for p in prompts[begin:begin + batch_size]]
        rows = chunk + [chunk[-1]] * (batch_size - len(chunk))
        token_ids = np.full([batch_size, sequence_length], tokenizer.pad_id, np.int32)
        prompt_mask = np.zeros([batch_size, sequence_length], bool)
        for r, prompt in enumerate(rows):
            token_ids[r, :len(prompt) + 1] = [tokenizer.start_id] + prompt
            prompt_mask[r, :len(prompt) + 1] = True
        out_ids, out_mask = generate_batch(model, token_ids, prompt_mask, [tokenizer.end_id])
        for r in range(len(chunk)):
            kept = out_ids[r, 1:][out_mask[r, 1:]]
            results.append([int(t) for t in kept if t != tokenizer.end_id][:max_length])
    return results


def straight_through_one_hots(model, token_ids, padding_mask, generated_mask,
                             temperature: float = 1.0, training: bool = False,
                             state: State = None):
    """Straight-through one-hots [B, T, V] of a generated caption, from a teacher-forced pass.

    Forward: exactly one_hot(token_ids) (the sampled tokens). Backward, at generated positions:
    the gradient of softmax(logits / temperature) of the LM's prediction for that position, so a
    loss on the one-hots has a gradient in the LM weights. The tokens came from the LM's own
    sampler, whose draw plays the role of the Gumbel noise (docs/DESIGN.md section 2). Positions
    not in `generated_mask` (start token, prompt, padding) are constant one-hots.
    """
    vocabulary_size = model.backbone.vocabulary_size
    logits = lm_logits(model, token_ids, padding_mask, training, state)
    soft = tf.nn.softmax(precision.full_precision(logits[:, :-1]) / temperature, axis=-1)
    soft = tf.pad(soft, [[0, 0], [1, 0], [0, 0]])  # position t is predicted at t - 1
    hard = tf.one_hot(token_ids, vocabulary_size, dtype=soft.dtype)
    straight_through = hard + (soft - tf.stop_gradient(soft))  # forward: hard + exact zeros
    return tf.where(tf.cast(generated_mask, tf.bool)[..., None], straight_through, hard)
