"""Captioner training on a tiny caption_shapes: the loss goes down, checkpoints resume, TensorBoard
events are written, plateaus decay the learning rate and stop training, XLA steps work, and
supervised attention moves the attention onto the objects that words name."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from caption_aug.data import pipelines
from caption_aug.data import prepare
from caption_aug.data.caption_shapes import grounding
from caption_aug.models.captioner import build_captioner
from caption_aug.training import captioner_trainer
from caption_aug.training.plateau import Plateau
from caption_aug.workdir import checkpoints
from configs import captioner_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = captioner_tiny.get_config()
    workdir = str(tmp_path_factory.mktemp("captioner_train"))
    return config, workdir, prepare.prepare(config, workdir)


def _tags(workdir):
    events = event_accumulator.EventAccumulator(
        os.path.join(workdir, "tensorboard", "captioner"),
        size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0})
    events.Reload()
    return events


@pytest.mark.slow
def test_training_lowers_validation_loss_resumes_and_logs(tiny):
    config, workdir, data = tiny
    history = captioner_trainer.train(config, workdir, data)
    losses = [history["initial_validation"]["loss"]] + [e["validation"]["loss"] for e in history["epochs"]]
    assert len(history["epochs"]) == 2
    assert losses[-1] < losses[0] - 0.5, losses
    assert os.path.exists(os.path.join(workdir, "captioner", "training.json"))
    assert checkpoints.latest_in(os.path.join(workdir, "captioner", "best"))
    for key in ("Bleu_1", "Bleu_4", "cross_entropy"):
        assert 0 <= history["epochs"][-1]["validation"][key] < 100
    assert 0 <= history["epochs"][-1]["semantic"]["all_true"] <= 1

    events = _tags(workdir)
    scalars = {tag for tag in events.Tags()["tensors"]}
    assert {"train/loss", "validation/loss", "validation/Bleu_4", "learning_rate/decoder",
            "validation/sample_captions", "validation_semantic/all_true"} <= scalars
    images = events.Tensors("validation/attention_maps")
    assert len(images) == 2 and images[-1].tensor_proto.string_val[2][:4] == b"\x89PNG"
    steps_per_epoch = history["epochs"][0]["step"]

    config.captioner.epochs = 3  # resume: one more epoch, counters continue
    resumed = captioner_trainer.train(config, workdir, data)
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2, 3]
    assert resumed["epochs"][-1]["step"] == 3 * steps_per_epoch
    assert resumed["epochs"][-1]["validation"]["loss"] < losses[0]
    again = captioner_trainer.train(config, workdir, data)  # nothing left to do
    assert len(again["epochs"]) == 3


def test_plateau_decays_every_patience_epochs_and_stops():
    plateau = Plateau(decay_patience=2, stop_patience=5)
    decisions = [plateau.update(value) for value in (0.1, 0.2, 0.2, 0.15, 0.2, 0.1, 0.05)]
    assert [improved for improved, _ in decisions] == [True, True, False, False, False, False, False]
    assert [decay for _, decay in decisions] == [False, False, False, True, False, True, False]
    assert plateau.should_stop and float(plateau.best) == pytest.approx(0.2)
    assert plateau.update(0.3) == (True, False) and not plateau.should_stop


def test_the_best_epoch_is_chosen_by_the_configured_figure_and_never_a_non_finite_one():
    scores = {"Bleu_4": 0.3, "semantic": {"all_true": 0.6}}
    finite, nan_loss = {"loss": 2.0}, {"loss": float("nan")}
    assert captioner_trainer.selection_value("all_true", scores, finite) == pytest.approx(0.6)
    assert captioner_trainer.selection_value("bleu_4", scores, finite) == pytest.approx(0.3)
    assert captioner_trainer.selection_value("all_true", scores, nan_loss) == float("-inf")
    assert captioner_trainer.selection_value("bleu_4", {"Bleu_4": float("nan")}, finite) == \
        float("-inf")


def test_xla_train_step_trains(tiny):
    config, _, data = tiny
    cfg = config.captioner
    cfg.jit_compile = True
    tf.keras.utils.set_random_seed(0)
    model = build_captioner(cfg, data.tokenizer.vocabulary_size, config.pipeline.captioner_image_size)
    trainer = captioner_trainer.CaptionerStep(cfg, model, config.max_consecutive_skips)
    datasets = pipelines.Datasets(config, data.splits, data.tokenizer)
    batch = next(iter(captioner_trainer.train_batches(config, datasets, epoch=1)))
    before = [v.numpy().copy() for v in model.encoder.trainable_variables]
    losses = [float(trainer.train_step(batch)["loss"]) for _ in range(6)]
    assert losses[-1] < losses[0] and np.isfinite(losses).all()
    assert all((b != v.numpy()).any() for b, v in zip(before, model.encoder.trainable_variables))


@pytest.mark.parametrize("relation_head", [False, True], ids=["one_head", "relation_head"])
def test_supervised_attention_batches_carry_grounding_and_steps_move_attention_onto_objects(
        tiny, relation_head):
    config, _, data = tiny
    cfg = config.captioner.copy_and_resolve_references()
    cfg.jit_compile, cfg.attention_supervision = False, 5.0
    cfg.position_channels = cfg.relation_head = relation_head
    tf.keras.utils.set_random_seed(0)
    model = build_captioner(cfg, data.tokenizer.vocabulary_size, config.pipeline.captioner_image_size)
    trainer = captioner_trainer.CaptionerStep(cfg, model, config.max_consecutive_skips)
    grounded = grounding.split_grounding(data.splits["train"], data.tokenizer, cfg.encoded_size,
                                         config.data.max_caption_tokens)
    datasets = pipelines.Datasets(config, data.splits, data.tokenizer)
    batch = next(iter(captioner_trainer.train_batches(config, datasets, 1, grounded)))
    assert batch["token_object"].shape == batch["token_ids"].shape
    assert batch["object_masks"].shape[1:] == (3, cfg.encoded_size ** 2)
    assert int(tf.reduce_max(batch["token_object"])) >= 2   # words naming a second object
    assert batch["token_related"].shape == batch["token_ids"].shape
    assert int(tf.reduce_max(batch["token_related"])) >= 1  # a relation phrase's other object

    def supervision(**changes):
        return float(trainer._losses({**batch, **changes}, training=False)[1])

    # A relation phrase grounds the attention in its subject only when a relation head grounds
    # the related object beside it.
    in_subject = supervision()
    no_subject = supervision(token_object=tf.where(batch["token_related"] > 0, 0,
                                                   batch["token_object"]))
    assert (in_subject != pytest.approx(no_subject)) == relation_head
    if relation_head:
        assert supervision(token_related=tf.zeros_like(batch["token_related"])) != pytest.approx(
            in_subject)
    terms = [float(trainer.train_step(batch)["attention_supervision"]) for _ in range(10)]
    assert terms[-1] < terms[0] - 0.3, terms


def test_missing_checkpoint_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"captioner/best: run --mode=train_captioner"):
        checkpoints.restore_stage(str(tmp_path), "captioner", dict(model=tf.Variable(1.0)), "best")
