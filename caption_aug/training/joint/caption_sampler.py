"""Synthetic captions for stage 4 and `--mode=synthesize`: the LM continues prompts taken from real
training captions (their first `lm.generation.prompt_words` words, as the paper does).

Sampling runs keras-hub's compiled `generate` outside the joint `tf.function`; the sampled tokens
then enter the step as fixed inputs, and `caption_lm.straight_through_one_hots` gives them a
gradient in the LM weights there. Every draw is a pure function of (seed, draw number) and the LM
weights, so a resumed run draws what the uninterrupted run would have: the random samplers
(top_k, top_p) keep their random state in a Keras seed generator that advances with every
`generate` call and that no checkpoint holds, so `sample` sets it from (seed, draw) first.
"""

import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from caption_aug import distribute
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
        # XLA cannot read a mirrored variable's copies (the sampler's seed state) on one device
        caption_lm.compile_for_generation(lm, generation_config, seed,
                                          jit_compile=distribute.replicas() == 1)

    def sample(self, batch_size: int, draw: int) -> dict:
        """Draw number `draw`: {"token_ids" int32 [S, T], "padding_mask" bool, "generated_mask"
        bool (the LM's own tokens and the end token), "noise" float32 [S, noise_dim], "prompt_index"
        int64 [S] (the real caption each prompt came from)}."""
        rng = np.random.default_rng([self.seed, draw])
        chosen = rng.choice(len(self.captions), size=batch_size, replace=False)
        texts = [self.captions[i] for i in chosen]
        prompts = caption_lm.prompt_tokens(texts, self.tokenizer, self.generation.prompt_words)
        seed_sampler(self.lm, self.seed, draw)
        generated = caption_lm.generate_captions(self.lm, self.tokenizer, prompts,
                                                 self.generation.max_length, batch_size)
        batch = frame_generated(generated, [len(p) for p in prompts], self.tokenizer, self.length)
        batch["noise"] = rng.standard_normal((batch_size, self.noise_dim)).astype(np.float32)
        batch["prompt_index"] = chosen.astype(np.int64)
        return batch


def seed_sampler(lm, seed: int, draw: int) -> None:
    """Sets the seed-generator states of the LM's compiled sampler (none for beam and greedy) to
    a function of (seed, draw), so the draw does not depend on the draws made before it."""
    value = int(np.random.default_rng([seed, draw, 1]).integers(2 ** 31 - 1))
    for state in lm.sampler.variables:
        state.assign(np.array([value, 0], dtype=state.dtype))


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


def caption_texts(token_ids: np.ndarray, tokenizer) -> List[str]:
    """The text of each framed caption of a drawn batch (start, end and padding dropped)."""
    return [tokenizer.decode([int(t) for t in ids]).strip() for ids in token_ids]


# The joint phase's log of its synthetic captions: one JSON line {"draw": n, "captions": [...]}
# per draw (with the iteration's hypergradient validation loss, when it took one), appended after
# the iteration. The LM changes during the phase, so the texts of earlier draws cannot be drawn
# again on resume: they are kept here, and on resume the lines of draws the restored checkpoint had
# not reached yet are dropped (the checkpoint is the truth).


def append_draw(path: str, draw: int, captions: Sequence[str],
                validation_loss: Optional[float] = None) -> None:
    """Appends draw number `draw`'s caption texts (and its validation loss) to the log at `path`."""
    entry = {"draw": int(draw), "captions": list(captions)}
    if validation_loss is not None:
        entry["validation_loss"] = float(validation_loss)
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def kept_lines(lines: Sequence[str], iteration: int) -> List[str]:
    """The log lines a run resumed at `iteration` keeps: those of draws before it, in order, the
    first line of each draw only; a torn or unreadable line (a kill mid-write) is dropped."""
    kept, seen = [], set()
    for line in lines:
        try:
            draw = json.loads(line)["draw"]
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(draw, int) and 0 <= draw < iteration and draw not in seen:
            seen.add(draw)
            kept.append(line.rstrip("\n") + "\n")
    return kept


def truncate_log(path: str, iteration: int) -> None:
    """Rewrites the log at `path` (if any) to `kept_lines(..., iteration)`, atomically."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = kept_lines(f.readlines(), iteration)
    with open(path + ".tmp", "w") as f:
        f.writelines(lines)
    os.replace(path + ".tmp", path)


def _entries(path: str) -> List[dict]:
    """The log's kept entries in draw order (none when there is no log)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.readlines()
    return sorted((json.loads(line) for line in kept_lines(lines, iteration=2 ** 62)),
                  key=lambda entry: entry["draw"])


def read_log(path: str) -> Dict[int, List[str]]:
    """Draw number -> caption texts, from the log at `path` (empty when there is none)."""
    return {entry["draw"]: entry["captions"] for entry in _entries(path)}


def read_validation_losses(path: str) -> List[list]:
    """[iteration, hypergradient validation loss] of every iteration that took one (the
    iteration counted from 1), from the log at `path`."""
    return [[entry["draw"] + 1, entry["validation_loss"]] for entry in _entries(path)
            if "validation_loss" in entry]
