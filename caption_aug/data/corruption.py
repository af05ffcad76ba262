"""A known share of the train captions made harmful to learn from: their words shuffled.

`data.corrupt_fraction` > 0 turns it on (the study's corrupted-caption setting): the caption
weights a_i of a working hypergradient should push these captions down, which the joint phase
reports as the AUC with which a_i separates clean from corrupted captions
(`corrupted_captions` in joint/metrics.json). Which captions were corrupted is written to
`WORKDIR/data/corrupted_captions.json` (flat train indices).
"""

import json
import os
from typing import List, Sequence

import numpy as np

CORRUPTED_CAPTIONS = os.path.join("data", "corrupted_captions.json")


def corrupt_captions(captions: List[List[str]], fraction: float, seed: int):
    """(captions with round(fraction * n) of the n flat captions word-shuffled, their sorted flat
    indices). A shuffle that gives back the caption's own order is drawn again (a caption whose
    words are all equal cannot change and stays as it is)."""
    flat = [caption for per_image in captions for caption in per_image]
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(flat), size=int(round(fraction * len(flat))), replace=False))
    for index in chosen:
        words = flat[index].split()
        for _ in range(10):
            shuffled = [words[k] for k in rng.permutation(len(words))]
            if shuffled != words:
                break
        flat[index] = " ".join(shuffled)
    out, start = [], 0
    for per_image in captions:
        out.append(flat[start:start + len(per_image)])
        start += len(per_image)
    return out, chosen.tolist()


def write_indices(workdir: str, indices: Sequence[int]) -> None:
    path = os.path.join(workdir, CORRUPTED_CAPTIONS)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"flat_train_indices": list(indices)}, f)


def read_indices(workdir: str):
    """The corrupted flat train indices of `workdir`, or None when nothing was corrupted."""
    path = os.path.join(workdir, CORRUPTED_CAPTIONS)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)["flat_train_indices"]


def separation_auc(weights: np.ndarray, corrupted: Sequence[int]) -> float:
    """P(a_clean > a_corrupted) over all (clean, corrupted) pairs, ties counting one half: 1 when
    every corrupted caption is weighted below every clean one, 0.5 at chance.
    The Mann-Whitney statistic by average ranks (numpy has no rank AUC of its own)."""
    weights = np.asarray(weights, dtype=np.float64)
    is_corrupted = np.zeros(len(weights), dtype=bool)
    is_corrupted[list(corrupted)] = True
    num_bad, num_good = int(is_corrupted.sum()), int((~is_corrupted).sum())
    if not num_bad or not num_good:
        raise ValueError("the AUC needs both clean and corrupted captions")
    _, tie_group, tie_counts = np.unique(weights, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(tie_counts) - (tie_counts - 1) / 2)[tie_group]   # average rank of ties
    clean_rank_sum = ranks[~is_corrupted].sum()
    return float((clean_rank_sum - num_good * (num_good + 1) / 2) / (num_good * num_bad))
