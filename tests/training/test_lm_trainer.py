"""`--mode=train_lm` on a tiny caption_shapes set: training lowers held-out perplexity, a rerun
resumes (model, optimizer and the weight logits A), metrics, examples and TensorBoard events are
written; the text-only source reads captions alone."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from caption_aug import config_schema
from caption_aug.data import example as example_lib
from caption_aug.data.readers import text_only
from caption_aug.evaluation import lm_eval
from caption_aug.models import caption_lm
from caption_aug.training import lm_trainer
from caption_aug.workdir import trained
from tests.conftest import REPO_ROOT


def tiny_config():
    config = config_schema.base_config()
    config.data.caption_shapes.update(dict(train_size=120, validation_size=30, test_size=10,
                                           resolution=32))
    config.tokenizer.vocab_size = 300
    config.pipeline.batch_size = 16
    config.lm.update(dict(num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64,
                          epochs=2, log_every_steps=10, learning_rate=3e-3))
    config.lm.generation.update(dict(num_eval_prompts=24, batch_size=8, num_table_rows=4))
    return config


def event_tags(directory):
    """Every summary tag written under a TensorBoard folder, read back from the event files."""
    tags = set()
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


@pytest.mark.slow
def test_train_resume_and_evaluate(tmp_path):
    config = tiny_config()
    workdir = str(tmp_path)
    corpus = lm_trainer.load_corpus(config, workdir)
    assert corpus.caption_shapes and len(corpus.train.flat_captions) == 600
    trainer = lm_trainer.build_step(config, corpus)
    validation = lm_trainer.corpus_datasets(config, corpus).lm("validation", training=False)
    untrained = lm_eval.perplexity(trainer.model, validation)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "lm"))
    position = lm_trainer.train(config, workdir, corpus, trainer, writer)
    trained_perplexity = lm_eval.perplexity(trainer.model, validation)
    assert trained_perplexity < 0.3 * untrained
    assert position.epochs_done == 2
    np.testing.assert_allclose(tf.sigmoid(trainer.weight_logits), 0.9, rtol=1e-6)  # A untouched

    # A rerun resumes: same weights, optimizer step and weight logits (as stage 4 would leave them).
    _, checkpointer = lm_trainer.epochs.resume(workdir, "lm", trainer.checkpoint_objects())
    trainer.weight_logits.assign(tf.linspace(-1.0, 1.0, 600))
    checkpointer.save()
    config.lm.epochs = 3
    resumed = lm_trainer.build_step(config, corpus)
    resumed_position, _ = lm_trainer.epochs.resume(workdir, "lm", resumed.checkpoint_objects())
    assert resumed_position.epochs_done == 2
    assert int(resumed.optimizer.iterations.numpy()) == int(trainer.optimizer.iterations.numpy())
    np.testing.assert_array_equal(resumed.weight_logits.numpy(), trainer.weight_logits.numpy())
    for a, b in zip(resumed.model.weights, trainer.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    _, weight_logits = trained.load_trained_lm(config, workdir, 300, 600)
    np.testing.assert_array_equal(weight_logits.numpy(), trainer.weight_logits.numpy())

    metrics = lm_trainer.run_mode(config, workdir)           # trains the third epoch, evaluates
    assert metrics["epochs"] == 3
    assert metrics["validation_perplexity"] < 0.3 * untrained
    assert metrics["generated_captions"] == 24 and len(metrics["examples"]) == 4
    for key in ("distinct_1", "distinct_2", "novelty", "self_bleu_4", "valid_scene_fraction"):
        assert 0.0 <= metrics[key] <= 1.0
    example = metrics["examples"][0]
    assert example["generated"].startswith(example["prompt"])
    assert example["real"].startswith(example["prompt"])
    with open(os.path.join(workdir, "lm", "metrics.json")) as f:
        assert json.load(f)["epochs"] == 3
    tags = event_tags(os.path.join(workdir, "tensorboard", "lm"))
    assert {"train/weighted_loss", "validation/perplexity", "eval/distinct_2",
            "eval/generated_captions"} <= tags
    # The saved preset is the final model: the same losses as the last checkpoint.
    final, _ = trained.load_trained_lm(config, workdir, 300, 600)
    config.lm.preset = os.path.join(workdir, "lm", "preset")
    from_preset = caption_lm.build_caption_lm(config.lm, 300)
    batch = next(iter(validation))
    np.testing.assert_allclose(caption_lm.batch_losses(from_preset, batch),
                               caption_lm.batch_losses(final, batch), rtol=1e-6)


def test_text_only_source_reads_captions_without_images(tmp_path):
    images = [{"id": k, "file_name": f"missing_{k}.jpg"} for k in range(1, 21)]
    annotations = [{"id": 100 + n, "image_id": 1 + n // 2, "caption": f"A dog number {n} runs."}
                   for n in range(40)]
    annotations += [{"id": 500, "image_id": 3, "caption": ""},      # empty: skipped, counted
                    {"id": 501, "image_id": 3, "caption": 7},       # malformed
                    "not an annotation"]
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    config = tiny_config()
    config.lm.text_only_source = str(path)
    config.data.validation_fraction = 0.2
    config.data.test_fraction = 0.1
    config_schema.validate(config)
    corpus = lm_trainer.load_corpus(config, str(tmp_path / "work"))
    assert not corpus.caption_shapes
    assert len(corpus.train.flat_captions) == 28 and len(corpus.validation.flat_captions) == 8
    assert "a dog number 0 runs" in corpus.train.flat_captions + corpus.validation.flat_captions
    assert os.path.isfile(tmp_path / "work" / "tokenizer" / "vocab.json")
    assert len(corpus.train.caption_tokens) == 28
    skips = example_lib.SkipCounter()
    text_only.read_text_only_captions(str(path), 50, skips)
    assert skips.counts == {"caption_empty": 1, "malformed_annotation_entry": 2}


def test_bad_lm_settings_fail_at_start_naming_the_key(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "train_main.py"), f"--workdir={tmp_path}",
         "--mode=train_lm", "--config.lm.generation.sampler=nucleus"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "lm.generation.sampler" in result.stderr.strip().splitlines()[-1]
