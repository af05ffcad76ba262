"""train_gan end to end on real caption_shapes data: files, TensorBoard events read back, resume
(with every trained weight restored), non-finite steps skipped and counted, a fixed derived
discriminator, conditioning on the trained sentence encoder."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from caption_aug import config_schema
from caption_aug.data import pipelines
from caption_aug.data import prepare as prepare_lib
from caption_aug.models.stage2gan import architecture_from_json
from caption_aug.models.stage2gan import factory as gan_factory
from caption_aug.training import encoder_trainer
from caption_aug.training import gan_trainer
from caption_aug.workdir import checkpoints

SIZE = 16          # the smallest GAN size (two cells): keeps tracing short


def _config(**gan):
    config = config_schema.base_config()
    config.data.caption_shapes.update(dict(train_size=200, validation_size=20, test_size=60,
                                           resolution=32))
    config.pipeline.gan_image_size = SIZE
    config.gan.update({**dict(conditioning="trainable", matching_weight=0.0, generator_channels=4,
                              discriminator_channels=4, batch_size=8,
                              generator_steps=2, iterations=4, summary_every=2,
                              checkpoint_every=2, sample_captions=3, samples_per_caption=2),
                       **gan})
    config.attribute_classifier.update(dict(steps=10, filters=(4, 8, 8), convs_per_block=1,
                                                     stem=0))
    config_schema.validate(config)
    return config


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("gan_run"))


@pytest.fixture(scope="module")
def first_run(workdir):
    return gan_trainer.run_mode(_config(), workdir)


def _events(workdir):
    accumulator = event_accumulator.EventAccumulator(
        os.path.join(workdir, "tensorboard", "gan"), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


@pytest.mark.slow
def test_train_gan_writes_architecture_samples_metrics_and_tensorboard(first_run, workdir):
    gan_dir = os.path.join(workdir, "gan")
    with open(os.path.join(gan_dir, "architecture.json")) as f:
        architecture = architecture_from_json(f.read())
    assert architecture == first_run["architecture"]
    assert len(architecture["architecture"]) == 4 and "none" not in architecture["architecture"]
    grid = tf.io.decode_png(tf.io.read_file(os.path.join(gan_dir, "samples",
                                                         "samples_000004.png"))).numpy()
    assert grid.shape == (3 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 4, 3)
    arch_png = tf.io.decode_png(tf.io.read_file(os.path.join(gan_dir, "samples",
                                                             "arch_weights_000002.png")))
    assert arch_png.shape[:2] == (4 * 16, 8 * 16)      # edges x ops, 16 pixels each
    with open(os.path.join(gan_dir, "metrics.json")) as f:
        metrics = json.load(f)
    accuracy = metrics["conditional_accuracy"]
    assert accuracy["iterations"] == 4 and accuracy["skipped_steps"] == 0
    assert 0 <= accuracy["colour"]["accuracy"] <= 1
    assert 0 < accuracy["colour"]["chance"] < 1 and accuracy["captions"] > 0
    assert set(accuracy["classifier_real_accuracy"]) == {"colour", "shape"}
    events = _events(workdir)        # TF2 summaries are stored as tensors
    tags = set(events.Tags()["tensors"])
    assert {"generator_loss", "discriminator_loss", "d_real", "d_fake", "d_wrong",
            "skipped_steps", "samples/real_then_generated", "architecture/softmax_B"} <= tags
    assert [e.step for e in events.Tensors("generator_loss")] == [2, 4]
    d_real = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("d_real")]
    assert all(0 < value < 1 for value in d_real)
    image = events.Tensors("samples/real_then_generated")[-1].tensor_proto
    width, height, png = tf.make_ndarray(image)[:3]
    assert (int(height), int(width)) == grid.shape[:2]
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), grid)


@pytest.mark.slow
def test_rerun_resumes_from_the_checkpoint(first_run, workdir):
    before = tf.train.latest_checkpoint(os.path.join(workdir, "gan", "checkpoints"))
    assert before.endswith("-4")
    metrics = gan_trainer.run_mode(_config(iterations=6), workdir)
    assert metrics["conditional_accuracy"]["iterations"] == 6
    assert tf.train.latest_checkpoint(os.path.join(workdir, "gan", "checkpoints")).endswith("-6")
    steps = [e.step for e in _events(workdir).Tensors("generator_loss")]
    assert steps == [2, 4, 6]             # iterations 1-4 were not trained again


@pytest.fixture(scope="module")
def prepared(workdir, first_run):
    return prepare_lib.prepare(_config(), workdir)


def _batch(prepared, config):
    dataset = gan_trainer.training_batches(
        config, pipelines.Datasets(config, prepared.splits, prepared.tokenizer))
    return {k: v.numpy() for k, v in next(iter(dataset)).items()}


@pytest.mark.slow
def test_non_finite_loss_skips_the_step_and_is_counted(prepared):
    config = _config()
    models = gan_factory.build_models(config.gan, SIZE, prepared.tokenizer.vocabulary_size, 0)
    trainer = gan_trainer.GanStep(config.gan, models, 0, config.max_consecutive_skips)
    batch = _batch(prepared, config)
    poisoned = dict(batch, image=np.full_like(batch["image"], np.nan))
    before = [v.numpy().copy() for v in models.discriminator.variables + models.generator.variables]
    assert not np.isfinite(float(trainer.discriminator_step(poisoned)["discriminator_loss"]))
    assert not np.isfinite(float(trainer.generator_step(poisoned)["generator_loss"]))
    assert trainer.guard.skipped_steps == 2
    after = [v.numpy() for v in models.discriminator.variables + models.generator.variables]
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)
    assert int(trainer.discriminator_optimizer.iterations.numpy()) == 0
    assert np.isfinite(float(trainer.discriminator_step(batch)["discriminator_loss"]))
    assert trainer.guard.skipped_steps == 2
    assert int(trainer.discriminator_optimizer.iterations.numpy()) == 1


@pytest.mark.slow
def test_mode_seeking_steps_make_the_generator_use_its_noise(prepared):
    config = _config(mode_seeking_weight=10.0)
    models = gan_factory.build_models(config.gan, SIZE, prepared.tokenizer.vocabulary_size, 0)
    trainer = gan_trainer.GanStep(config.gan, models, 0, config.max_consecutive_skips)
    batch = _batch(prepared, config)
    first = {k: float(v) for k, v in trainer.generator_step(batch).items()}
    np.testing.assert_allclose(first["generator_loss"],
                               first["adversarial_loss"] + 10 * first["mode_seeking_loss"],
                               rtol=1e-5)
    for _ in range(10):
        last = trainer.generator_step(batch)
    assert float(last["mode_seeking_loss"]) < 0.8 * first["mode_seeking_loss"], (first, last)


@pytest.mark.slow
def test_fixed_derived_discriminator_trains_with_gan_int(prepared, workdir):
    path = os.path.join(workdir, "gan", "architecture.json")
    config = _config(derived_architecture=path, interpolation=True)
    architecture = gan_trainer.load_architecture(config.gan.derived_architecture)
    models = gan_factory.build_models(config.gan, SIZE, prepared.tokenizer.vocabulary_size, 0,
                                      architecture)
    assert not models.discriminator.is_supernet
    assert models.discriminator.derive()["architecture"] == architecture
    trainer = gan_trainer.GanStep(config.gan, models, 0, config.max_consecutive_skips)
    batches = iter(gan_trainer.training_batches(
        config, pipelines.Datasets(config, prepared.splits, prepared.tokenizer)))
    before = [v.numpy().copy() for v in models.discriminator.trainable_variables]
    figures = trainer.train_iteration(batches)
    assert all(np.isfinite(v) for v in figures.values())
    assert any(not np.array_equal(b, v.numpy())
               for b, v in zip(before, models.discriminator.trainable_variables))


@pytest.mark.slow
def test_resumed_run_restores_the_trained_generator(first_run, workdir, prepared):
    config = _config()
    models = gan_factory.build_models(config.gan, SIZE, prepared.tokenizer.vocabulary_size, 0)
    trainer = gan_trainer.GanStep(config.gan, models, 0, config.max_consecutive_skips)
    path = tf.train.latest_checkpoint(os.path.join(workdir, "gan", "checkpoints"))
    checkpoints.restore_into(path, trainer.checkpoint_objects())
    fresh = gan_factory.build_models(config.gan, SIZE, prepared.tokenizer.vocabulary_size, 0)
    for name in ("generator", "generator_ema"):      # every weight trained, and restored
        restored, initial = getattr(models, name), getattr(fresh, name)
        assert all(not np.array_equal(a.numpy(), b.numpy())
                   for a, b in zip(restored.trainable_variables, initial.trainable_variables)), name
    assert not np.array_equal(models.generator.trainable_variables[0].numpy(),
                              models.generator_ema.trainable_variables[0].numpy())


@pytest.mark.slow
def test_train_gan_conditioned_on_the_trained_sentence_encoder(tmp_path):
    workdir = str(tmp_path)
    config = _config(conditioning="encoder", matching_weight=1.0, iterations=2)
    with pytest.raises(FileNotFoundError, match="run --mode=train_encoder"):
        gan_trainer.run_mode(config, workdir)
    config.encoder.update(dict(embedding_dim=32, token_embedding_dim=8, rnn_units=8, epochs=1,
                               steps_per_epoch=2))
    encoder_trainer.run_mode(config, workdir)
    metrics = gan_trainer.run_mode(config, workdir)
    assert metrics["conditional_accuracy"]["iterations"] == 2
    saved = [name for name, _ in tf.train.list_variables(
        tf.train.latest_checkpoint(os.path.join(workdir, "gan", "checkpoints")))]
    assert not any(name.startswith(("conditioning", "encoder")) for name in saved)
    prepared = prepare_lib.prepare(config, workdir)
    conditioning = gan_trainer.load_conditioning(config, workdir,
                                                 prepared.tokenizer.vocabulary_size)
    models = gan_factory.build_models(config.gan, SIZE, prepared.tokenizer.vocabulary_size, 0,
                                      conditioning=conditioning)
    assert models.generator.embedding_dim == 32
    batch = _batch(prepared, config)
    np.testing.assert_allclose(
        models.text_embedding(batch["token_ids"], batch["padding_mask"]).numpy(),
        conditioning.encoder.embed_text(batch["token_ids"], batch["padding_mask"]).numpy()
        * np.sqrt(32), rtol=1e-5, atol=1e-6)


def test_missing_derived_architecture_is_named():
    with pytest.raises(FileNotFoundError, match="gan.derived_architecture"):
        gan_trainer.load_architecture("/nonexistent/architecture.json")


def test_bad_gan_config_value_names_the_key():
    config = config_schema.base_config()
    config.gan.generator_steps = 0
    with pytest.raises(ValueError, match="gan.generator_steps"):
        config_schema.validate(config)
    config = config_schema.base_config()
    config.pipeline.gan_image_size = 48
    with pytest.raises(ValueError, match="pipeline.gan_image_size"):
        config_schema.validate(config)
    for key, value in (("conditioning", "glove"), ("generator_upsampling", "bicubic")):
        config = config_schema.base_config()
        config.gan[key] = value
        with pytest.raises(ValueError, match=f"gan.{key}"):
            config_schema.validate(config)
