"""Synthetic captions for stage 4 and `--mode=synthesize`: the LM continues prompts taken from real
training captions (their first `lm.generation.prompt_words` words, as the paper does).

Sampling runs keras-hub's compiled `generate` outside the joint `tf.function`; the sampled tokens
then enter the step as fixed inputs, and `caption_lm.straight_through_one_hots` gives them a
gradient in the LM weights there. Every draw is a pure function of (seed, draw number), so a
resumed run draws what the uninterrupted run would have.
"""

from typing import List

import numpy as np

from caption_aug.models import caption_lm


class CaptionSampler:
    """Draws batches of framed synthetic captions from an LM compiled for generation."""

    def __init__(self, lm, tokenizer, train_split, generation_config, noise_dim: int, seed: int):
        self.lm = lm
        self.tokenizer = tokenizer
        self.captions = train_split.flat_captions
        self.generation = generation_config
        self.noise_dim = noise_dim
        self.seed = seed
        self.length = generation_config.max_length + 2  # start + caption + end
        caption_lm.compile_for_generation(lm, generation_config, seed)

    def sample(self, batch_size: int, draw: int) -> dict:
        """Draw number `draw`: {"token_ids" int32 [S, T], "padding_mask" bool, "generated_mask"
        bool (the LM's own tokens and the end token), "noise" float32 [S, noise_dim], "prompt_index"
        int64 [S] (the real caption each prompt came from)}."""
        rng = np.random.default_rng([self.seed, draw])
        chosen = rng.choice(len(self.captions), size=batch_size, replace=False)
        texts = [self.captions[i] for i in chosen]
        prompts = caption_lm.prompt_tokens(texts, self.tokenizer, self.generation.prompt_words)
        generated = caption_lm.generate_captions(self.lm, self.tokenizer, prompts,
                                                 self.generation.max_length, batch_size)
        batch = frame_generated(generated, [len(p) for p in prompts], self.tokenizer, self.length)
        batch["noise"] = rng.standard_normal((batch_size, self.noise_dim)).astype(np.float32)
        batch["prompt_index"] = chosen.astype(np.int64)
        return batch


def frame_generated(captions: List[List[int]], prompt_lengths: List[int], tokenizer,
                    length: int) -> dict:
    """[start] + caption + [end], padded to `length`, with the mask of the generated positions."""
    token_ids = np.full((len(captions), length), tokenizer.pad_id, np.int32)
    padding_mask = np.zeros((len(captions), length), bool)
    generated_mask = np.zeros((len(captions), length), bool)
    for row, (caption, prompt_length) in enumerate(zip(captions, prompt_lengths)):
        framed = [tokenizer.start_id] + list(caption)[:length - 2] + [tokenizer.end_id]
        token_ids[row, :len(framed)] = framed
        padding_mask[row, :len(framed)] = True
        generated_mask[row, 1 + min(prompt_length, len(framed) - 2):len(framed)] = True
    return {"token_ids": token_ids, "padding_mask": padding_mask, "generated_mask": generated_mask}
