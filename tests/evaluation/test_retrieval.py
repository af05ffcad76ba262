"""Retrieval recall@K on hand-made embeddings, and the chance levels it is compared with."""

import numpy as np
import pytest

from caption_aug.evaluation import retrieval


def test_recall_at_k_both_ways():
    images = np.eye(3, dtype=np.float32)
    # captions 0,1 -> image 0; 2,3 -> image 1; 4 -> image 2. Caption 3 points at image 2 instead.
    texts = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.2, 0.8], [0.1, 0.3, 0.4]],
                     np.float32)
    owner = np.array([0, 0, 1, 1, 2])
    recalls = retrieval.recall_at_k(images, texts, owner, ks=(1, 2))
    # image 2's best caption is caption 3 (0.8), not its own caption 4: i2t R@1 = 2/3.
    assert recalls["image_to_text_r1"] == pytest.approx(2 / 3)
    assert recalls["image_to_text_r2"] == 1.0
    # caption 3's best image is 2; caption 4's best is image 2: t2i R@1 = 4/5.
    assert recalls["text_to_image_r1"] == pytest.approx(4 / 5)
    assert recalls["text_to_image_r2"] == 1.0


def test_chance_recall_matches_a_random_ranking():
    rng = np.random.default_rng(0)
    owner = np.repeat(np.arange(20), 5)
    runs = [retrieval.recall_at_k(rng.normal(size=(20, 16)), rng.normal(size=(100, 16)), owner)
            for _ in range(300)]
    for k in (1, 5):
        i2t, t2i = retrieval.chance_recall(20, 5, k)
        assert np.mean([r[f"image_to_text_r{k}"] for r in runs]) == pytest.approx(i2t, abs=0.03)
        assert np.mean([r[f"text_to_image_r{k}"] for r in runs]) == pytest.approx(t2i, abs=0.03)
