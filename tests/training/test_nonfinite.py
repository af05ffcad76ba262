"""The non-finite guard: a non-finite step changes nothing (weights, optimiser state, batch-norm
statistics, dropout seeds) and is counted; too many in a row stop the run with one line naming the
stage and the likely key; no checkpoint ever holds a NaN. A forced overflow (a huge learning rate)
in every stage and in the joint phase is stopped that way, from train_main."""

import glob
import shutil

import numpy as np
import pytest
import tensorflow as tf

from caption_aug import guard as guard_lib
from caption_aug.data import prepare
from caption_aug.models.captioner import build_captioner
from caption_aug.training import captioner_trainer
from caption_aug.training import lm_trainer
from caption_aug.workdir import checkpoints
from configs import all_tiny
from tests.conftest import train_main


def test_guard_applies_finite_steps_skips_others_and_stops_after_too_many():
    guard = guard_lib.NonFiniteGuard("demo", max_consecutive=2, likely_keys="demo.learning_rate")
    weight, statistic = tf.Variable(1.0), tf.Variable(5.0)

    @tf.function
    def step(gradient):
        before = guard_lib.snapshot([statistic])
        statistic.assign_add(1.0)  # what a training-mode forward pass would change
        return guard.apply(tf.reduce_sum(gradient), [gradient],
                           lambda: weight.assign_sub(gradient),
                           lambda: guard_lib.restore([statistic], before))

    assert bool(step(tf.constant(0.5)))
    assert (weight.numpy(), statistic.numpy(), guard.skipped_steps) == (0.5, 6.0, 0)
    assert not bool(step(tf.constant(np.nan, tf.float32)))
    assert (weight.numpy(), statistic.numpy(), guard.skipped_steps) == (0.5, 6.0, 1)
    guard.check()  # one in a row: still under the limit
    step(tf.constant(0.25))  # a finite step resets the run of skips
    assert int(guard.consecutive.numpy()) == 0 and weight.numpy() == 0.25
    step(tf.constant(np.inf, tf.float32))
    step(tf.constant(np.nan, tf.float32))
    assert guard.skipped_steps == 3
    with pytest.raises(guard_lib.NonFiniteError, match="stage demo: 2 .*demo.learning_rate"):
        guard.check()


def test_checkpointer_refuses_non_finite_variables_and_saves_seed_states(tmp_path):
    model = build_captioner(all_tiny.get_config().captioner, 50, 32)
    checkpointer = checkpoints.Checkpointer(str(tmp_path / "ckpt"), {"model": model})
    path = checkpointer.save(1)
    saved = [name for name, _ in tf.train.list_variables(path)]
    assert sum(name.startswith("seed_states/") for name in saved) == len(
        checkpoints.seed_states(model)) > 0
    model.trainable_variables[0].assign(tf.fill(model.trainable_variables[0].shape, np.nan))
    with pytest.raises(ValueError, match="NaN or infinity"):
        checkpointer.save(2)
    assert checkpointer.manager.latest_checkpoint == path


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    config = all_tiny.get_config()
    workdir = str(tmp_path_factory.mktemp("nonfinite"))
    return config, workdir, prepare.prepare(config, workdir)


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _assert_unchanged(before, variables):
    for old, new in zip(before, _values(variables)):
        np.testing.assert_array_equal(old, new)


def test_poisoned_captioner_batch_changes_nothing_and_is_counted(tiny_data):
    config, _, data = tiny_data
    tf.keras.utils.set_random_seed(0)
    model = build_captioner(config.captioner, data.tokenizer.vocabulary_size, 32)
    trainer = captioner_trainer.CaptionerStep(config.captioner, model, 20)
    batch = {"image": tf.fill([4, 32, 32, 3], np.nan),
             "token_ids": tf.ones([4, 6], tf.int32), "padding_mask": tf.ones([4, 6], tf.bool)}
    everything = model.variables + trainer.decoder_optimizer.variables
    before = _values(everything)  # weights, batch-norm statistics, dropout seeds, Adam state
    trainer.train_step(batch)
    _assert_unchanged(before, everything)
    assert trainer.guard.skipped_steps == 1


def test_poisoned_lm_caption_weight_changes_nothing_and_is_counted(tiny_data):
    config, workdir, _ = tiny_data
    lm_corpus = lm_trainer.load_corpus(config, workdir)
    trainer = lm_trainer.build_step(config, lm_corpus)
    batch = next(iter(lm_trainer.train_batches(config, lm_trainer.corpus_datasets(config,
                                                                                  lm_corpus), 0)))
    trainer.weight_logits.scatter_nd_update(batch["caption_index"][:1, None], [np.nan])
    everything = trainer.model.variables + trainer.optimizer.variables
    before = _values(everything)
    trainer.train_step(batch)
    _assert_unchanged(before, everything)
    assert trainer.guard.skipped_steps == 1


def _no_nan_in_checkpoints(workdir):
    indexes = glob.glob(str(workdir / "**" / "*.index"), recursive=True)
    for index in indexes:
        reader = tf.train.load_checkpoint(index[:-len(".index")])
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if np.issubdtype(np.asarray(value).dtype, np.floating):
                assert not np.isnan(value).any(), (index, name)
    return len(indexes)


# (mode, the stage's folder to train anew, learning-rate overrides, the message's stage and key)
_OVERFLOWS = [
    ("train_encoder", "encoder", ["--config.encoder.learning_rate=1e30"],
     "stage encoder", "encoder.learning_rate"),
    ("train_lm", "lm", ["--config.lm.learning_rate=1e30"], "stage lm", "lm.learning_rate"),
    ("train_gan", "gan", ["--config.gan.generator_lr=1e30", "--config.gan.discriminator_lr=1e30"],
     "stage gan", "gan.generator_lr"),
    ("train_captioner", "captioner",
     ["--config.captioner.decoder_lr=1e30", "--config.captioner.encoder_lr=1e30"],
     "stage captioner", "captioner.decoder_lr"),
    ("joint", "joint",
     ["--config.captioner.decoder_lr=1e30", "--config.captioner.encoder_lr=1e30",
      "--config.joint.iterations=20"], "stage joint_hypergradient", "captioner.decoder_lr"),
]


@pytest.mark.slow
@pytest.mark.parametrize("mode,folder,flags,stage,key", _OVERFLOWS, ids=[o[0] for o in _OVERFLOWS])
def test_forced_overflow_stops_the_stage_with_one_line_and_no_nan_checkpoint(
        all_run, tmp_path, mode, folder, flags, stage, key):
    workdir = tmp_path / "run"
    shutil.copytree(all_run[0], workdir)
    shutil.rmtree(workdir / folder)
    result = train_main(workdir, f"--mode={mode}", "--config.max_consecutive_skips=3",
                        "--config.lm.checkpoint_every_steps=1",
                        "--config.encoder.checkpoint_every_steps=1",
                        "--config.captioner.checkpoint_every_steps=1", *flags)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {stage}: 3 training steps in a row") and key in last, last
    assert _no_nan_in_checkpoints(workdir / folder) > 0  # it did checkpoint, finite weights only
