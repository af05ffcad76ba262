"""Captioner evaluation: BLEU by beam size in metrics.json agrees with caption_aug_eval on the
written COCO results files, semantic accuracy uses the scenes' truth, the attention figure is made."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from caption_aug.data import pipelines
from caption_aug.data import prepare
from caption_aug.evaluation import captioner_eval
from caption_aug.evaluation import eval_main
from caption_aug.models.captioner import build_captioner
from caption_aug.workdir import checkpoints
from configs import captioner_tiny


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The tiny config's data and an (untrained, seeded) captioner saved as the best checkpoint,
    evaluated by `--mode=eval`."""
    config = captioner_tiny.get_config()
    config.captioner.num_attention_maps = 3
    workdir = str(tmp_path_factory.mktemp("captioner_eval"))
    data = prepare.prepare(config, workdir)
    tf.keras.utils.set_random_seed(0)
    model = build_captioner(config.captioner, data.tokenizer.vocabulary_size,
                            config.pipeline.captioner_image_size)
    checkpoints.StageCheckpoints(workdir, "captioner", state={"model": model},
                                 best={"model": model}).save_best(1)
    metrics = captioner_eval.run_mode(config, workdir)
    return config, workdir, data, metrics


def test_metrics_hold_bleu_per_beam_size_as_caption_aug_eval_scores_the_results(evaluated, tmp_path):
    config, workdir, data, metrics = evaluated
    with open(os.path.join(workdir, "captioner", "metrics.json")) as f:
        assert json.load(f) == json.loads(json.dumps(metrics))
    assert sorted(metrics["beam_sizes"]) == ["1", "3", "5"]
    test = data.splits["test"]
    annotations = tmp_path / "test_captions.json"
    annotations.write_text(json.dumps({
        "images": [{"id": int(i)} for i in test.image_ids],
        "annotations": [{"image_id": int(i), "caption": c}
                        for i, caps in zip(test.image_ids, test.captions) for c in caps]}))
    for beam_size, scores in metrics["beam_sizes"].items():
        results = os.path.join(workdir, "captioner", f"results_test_beam{beam_size}.json")
        with open(results) as f:
            assert len(json.load(f)) == test.num_images
        recomputed = eval_main.evaluate(str(annotations), results)
        for n in range(1, 5):
            assert scores[f"Bleu_{n}"] == pytest.approx(recomputed[f"Bleu_{n}"], abs=1e-12)
        assert 0 <= scores["semantic"]["all_true"] <= scores["semantic"]["precision"] + 1e-9 <= 1 + 1e-9
        assert scores["mean_log_prob"] < 0 and scores["images"] == test.num_images


def test_attention_figure_has_one_row_per_kept_image(evaluated):
    _, workdir, _, _ = evaluated
    image = Image.open(os.path.join(workdir, "captioner", "attention_maps.png"))
    assert image.format == "PNG" and image.height > 150 and image.width > image.height


def test_semantic_accuracy_rewards_true_captions_only(evaluated):
    _, _, data, _ = evaluated
    test = data.splits["test"]
    truthful = {int(i): caps[0] for i, caps in zip(test.image_ids, test.captions)}
    assert captioner_eval.semantic_accuracy(truthful, test)["all_true"] == 1.0
    shifted = dict(zip(truthful, list(truthful.values())[1:] + list(truthful.values())[:1]))
    right = captioner_eval.semantic_accuracy(truthful, test)
    assert right["repeated_object"] == 0.0
    assert set(right["precision_by_kind"].values()) == {1.0}
    wrong = captioner_eval.semantic_accuracy(shifted, test)
    assert wrong["all_true"] < 0.5 and wrong["precision"] < 0.8
    assert wrong["precision_by_kind"]["shape"] < 0.8 and wrong["precision_by_kind"]["colour"] < 0.8
    first_object_twice = {i: f"{c} and {c}" for i, c in truthful.items()}
    assert captioner_eval.semantic_accuracy(first_object_twice, test)["repeated_object"] > 0.9


def test_generate_split_limits_images_and_keeps_attention(evaluated):
    config, _, data, _ = evaluated
    model = build_captioner(config.captioner, data.tokenizer.vocabulary_size,
                            config.pipeline.captioner_image_size)
    generator = captioner_eval.CaptionGenerator(model, data.tokenizer, 6)
    dataset = pipelines.Datasets(config, data.splits, data.tokenizer).eval("validation")
    generated = captioner_eval.generate_split(generator, dataset, 2, max_images=16, keep=3)
    assert len(generated.hypotheses) == 16
    assert generated.kept["alphas"].shape == (3, 6, 16)
    assert all(len(refs) == 5 for refs in generated.references.values())
    masks = generated.kept["word_mask"]
    np.testing.assert_allclose(generated.kept["alphas"].sum(-1)[masks], 1.0, atol=1e-5)
