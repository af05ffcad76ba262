"""How well hypergradients of A rank the corrupted captions below the clean ones, per visit and
summed over visits (benchmarks/hypergradient_signal.py); apart from it, without flags, so that a
test can import it."""

import numpy as np

from caption_aug.data import corruption
from caption_aug.study import report


def mean_pairwise_cosine(vectors) -> float:
    """Mean cosine over all pairs of distinct vectors: 1 when they share one direction, about 0
    when each points its own way."""
    unit = np.asarray(vectors, dtype=np.float64)
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    cosines = unit @ unit.T
    count = len(unit)
    return float((cosines.sum() - np.trace(cosines)) / (count * (count - 1)))


class Signal:
    """Per-draw and accumulated AUCs of -normalised dL_val/da for each method."""

    def __init__(self, num_captions: int, corrupted, methods):
        self.is_corrupted = np.zeros(num_captions, dtype=bool)
        self.is_corrupted[list(corrupted)] = True
        self.sums = {m: np.zeros(num_captions) for m in methods}
        self.visits = np.zeros(num_captions, dtype=np.int64)
        self.per_visit = {m: [] for m in methods}
        self.accumulated = []

    def add(self, caption_index: np.ndarray, normalised: dict) -> None:
        """One draw: its LM batch's caption indices and each method's normalised dL_val/da."""
        self.visits[caption_index] += 1
        bad = self.is_corrupted[caption_index]
        for method, gradient in normalised.items():
            self.sums[method] += gradient
            if bad.any() and not bad.all():
                self.per_visit[method].append(corruption.separation_auc(
                    -gradient[caption_index], np.flatnonzero(bad)))

    def accumulate(self, draws: int) -> None:
        """Records (and prints) the accumulated AUCs over the captions seen in `draws` draws."""
        seen = self.visits > 0
        row = {"draws": draws, "captions_seen": int(seen.sum()),
               "mean_visits_of_seen": float(self.visits[seen].mean())}
        for method, sums in self.sums.items():
            row[method] = corruption.separation_auc(-sums[seen],
                                                    np.flatnonzero(self.is_corrupted[seen]))
        self.accumulated.append(row)
        print(f"{draws} draws, {row['captions_seen']} captions seen "
              f"({row['mean_visits_of_seen']:.2f} visits each): AUC accumulated / per visit "
              + "  ".join(f"{m} {row[m]:.3f} / {np.mean(self.per_visit[m]):.3f}"
                          for m in self.sums), flush=True)

    def summary(self) -> dict:
        per_visit = {}
        for method, aucs in self.per_visit.items():
            mean, half_width = report.paired_interval(np.asarray(aucs) - 0.5)
            per_visit[method] = {"mean_auc": 0.5 + mean, "half_width_95": half_width,
                                 "draws": len(aucs), "aucs": aucs}
        return {"per_visit": per_visit, "accumulated": self.accumulated}
