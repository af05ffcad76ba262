"""Stage 4 on real (tiny) models: `--mode=all` end to end, what one joint iteration changes, the
hypergradient probes leaving every model untouched, and `--mode=synthesize` (step-exact resume
is in test_resume.py).

They start from the `all_run` fixture (tests/conftest.py): one `--mode=all` run of
`configs/all_tiny.py`; each test copies its workdir before changing anything.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from caption_aug.data import pipelines
from caption_aug.data import prepare as prepare_lib
from caption_aug.data.readers import coco as coco_reader
from caption_aug.evaluation import report
from caption_aug.models.captioner import build_captioner
from caption_aug.study import plan
from caption_aug.training.joint import control
from caption_aug.training.joint import hypergradient
from caption_aug.training.joint import step as joint_step
from caption_aug.training.joint import synthesize
from caption_aug.training.joint import trainer as joint_trainer
from caption_aug.workdir import checkpoints
from caption_aug.workdir import layout
from caption_aug.workdir import trained
from configs import all_tiny
from tests.conftest import train_main

pytestmark = pytest.mark.slow


def _copy(workdir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy)
    return copy


def test_mode_all_writes_every_stage_metrics_report_and_export(all_run):
    workdir, stdout = all_run
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert list(metrics["phases"]) == [
        "data", "encoder", "lm", "gan", "captioner_warmup", "captioner_before_joint", "joint",
        "captioner_after_joint", "captioner_control", "export"]
    phases = metrics["phases"]
    assert phases["lm"]["validation_perplexity"] > 1
    assert "image_to_text_r1" in phases["encoder"]
    accuracy = phases["gan"]["conditional_accuracy"]
    assert {"accuracy", "chance"} <= set(accuracy["colour"])
    assert "classifier_real_accuracy" in accuracy
    for name in ("captioner_before_joint", "captioner_after_joint", "captioner_control"):
        assert set(phases[name]["beam_sizes"]) == {"1", "3"}
        assert 0 <= phases[name]["beam_sizes"]["3"]["Bleu_4"] <= 1
    joint = phases["joint"]
    assert joint["iterations"] == 3
    assert joint["caption_weights"]["min"] < joint["caption_weights"]["max"]  # A was learned
    assert phases["captioner_control"]["updates"] == joint["iterations"]
    synthetic = joint["synthetic_captions"]  # every caption of the phase's draws, 3 x 4
    assert set(synthetic) >= {"distinct_1", "distinct_2", "self_bleu_4", "novelty",
                              "valid_scene_fraction"}
    assert (synthetic["draws"], synthetic["captions"]) == (3, 12)
    assert all(0 <= synthetic[k] <= 1
               for k in ("distinct_2", "self_bleu_4", "valid_scene_fraction"))
    logged = [json.loads(line) for line in
              (workdir / "joint" / "synthetic_captions.jsonl").read_text().splitlines()]
    assert [entry["draw"] for entry in logged] == [0, 1, 2]
    assert all(len(entry["captions"]) == 4 for entry in logged)
    report = (workdir / "report.md").read_text()
    for heading in ("Caption LM", "Stage2GAN", "Joint phase", "BLEU-4", "Time per phase",
                    "control (real only)", "after - control", "claim precision",
                    "an object named twice",
                    "Synthetic captions of the joint phase (12 drawn)"):
        assert heading in report
    assert (workdir / "export" / "captioner" / "saved_model.pb").exists()
    assert "report in" in stdout


def test_mode_all_trains_evaluates_and_exports_the_transformer_captioner_in_bfloat16(tmp_path):
    """The four levels with the other decoder (`captioner.decoder=transformer`), every model
    computing in bfloat16 (`mixed_precision=mixed_bfloat16`), tiny: one run for both, to spare
    the suite's time."""
    result = train_main(tmp_path / "run", "--config.captioner.decoder=transformer",
                        "--config.mixed_precision=mixed_bfloat16",
                        *(f"--config.captioner.transformer.{key}={value}" for key, value in
                          dict(num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64).items()))
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"joint", "captioner_after_joint", "captioner_control", "export"} <= set(metrics["phases"])
    for phase in ("captioner_before_joint", "captioner_after_joint", "captioner_control"):
        beam = metrics["phases"][phase]["beam_sizes"]["3"]
        assert np.isfinite(beam["mean_log_prob"]) and beam["images"] == 24
    assert not any(metrics["phases"]["joint"]["skipped_steps"].values())
    assert np.isfinite(metrics["phases"]["lm"]["validation_perplexity"])
    assert "mixed precision: mixed_bfloat16" in result.stderr
    assert os.path.isfile(os.path.join(metrics["phases"]["export"]["path"], "saved_model.pb"))


def test_tensorboard_shows_every_stage_the_caption_weights_and_softmax_b(all_run):
    workdir = all_run[0]
    for stage in ("encoder", "lm", "gan", "captioner", "joint"):
        assert os.listdir(workdir / "tensorboard" / stage), stage
    events = event_accumulator.EventAccumulator(str(workdir / "tensorboard" / "joint"),
                                                size_guidance={"tensors": 0})
    events.Reload()
    for scalar in ("lm/weighted_loss", "gan/generator_loss", "captioner/synthetic_loss",
                   "hypergradient/a_norm", "hypergradient/b_norm"):
        assert len(events.Tensors(scalar)) == 3, scalar
    plugins = {tag: events.SummaryMetadata(tag).plugin_data.plugin_name
               for tag in ("caption_weights/a", "architecture/softmax_B",
                           "caption_weights/highest")}
    assert plugins == {"caption_weights/a": "histograms", "architecture/softmax_B": "images",
                       "caption_weights/highest": "text"}
    highest = tf.make_ndarray(events.Tensors("caption_weights/highest")[-1].tensor_proto)
    assert b"| weight | caption |" in highest.item()


def test_rerun_of_a_finished_workdir_skips_every_phase(all_run, tmp_path):
    workdir = _copy(all_run[0], tmp_path)
    before = json.loads((workdir / "metrics.json").read_text())
    result = train_main(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("already done") == len(before["phases"])
    assert json.loads((workdir / "metrics.json").read_text())["phases"] == before["phases"]


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _changed(before, after) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, after))


def _config(**joint):
    config = all_tiny.get_config()
    for key, value in joint.items():
        config.joint[key] = value
    return config


def _datasets(config, prepared):
    return pipelines.Datasets(config, prepared.splits, prepared.tokenizer)


def test_a_joint_iteration_changes_g_e_f_w_a_b_and_nothing_else(all_run, tmp_path):
    workdir = _copy(all_run[0], tmp_path)
    config = _config()
    prepared = prepare_lib.prepare(config, str(workdir))
    run = joint_trainer.build_run(config, str(workdir), prepared)
    trained = {name: _values(vs) for name, vs in run.step.weights().items()}
    encoder = run.step.gan_step.models.conditioning.encoder
    frozen = _values(encoder.variables)
    streams = joint_trainer.batch_streams(config, _datasets(config, prepared), int(run.iteration))
    run.step(joint_trainer.next_batches(streams, run.sampler, config, draw=0), True)
    for name, variables in run.step.weights().items():
        assert _changed(trained[name], _values(variables)), f"{name} did not change"
    assert not _changed(frozen, _values(encoder.variables)), "the sentence encoder changed"


def test_a_plain_augmentation_iteration_changes_only_the_captioner(all_run, tmp_path):
    """The study's plain-augmentation arm: A, B, the LM and the GAN stay as warmed up. A second
    iteration on captions one token longer runs on the first one's trace (a trace of a step with
    a hypergradient costs minutes)."""
    workdir = _copy(all_run[0], tmp_path)
    config = _config(**plan.ARMS["plain_augmentation"])
    prepared = prepare_lib.prepare(config, str(workdir))
    run = joint_trainer.build_run(config, str(workdir), prepared)
    trained = {name: _values(vs) for name, vs in run.step.weights().items()}
    streams = joint_trainer.batch_streams(config, _datasets(config, prepared), int(run.iteration))
    batches = joint_trainer.next_batches(streams, run.sampler, config, draw=0)
    figures = run.step(batches, False)
    changed = {name for name, variables in run.step.weights().items()
               if _changed(trained[name], _values(variables))}
    assert changed == {"W"}
    assert "lm/weighted_loss" not in figures and "captioner/synthetic_loss" in figures
    longer = {**batches, **{name: {k: tf.pad(v, [[0, 0], [0, 1]]) if v.shape.rank == 2 else v
                                   for k, v in batches[name].items()}
                            for name in joint_step.LENGTH_BUCKETED}}
    assert np.isfinite(float(run.step(longer, False)["captioner/real_loss"]))
    assert run.step._compiled[False].experimental_get_tracing_count() == 1


def test_joint_captioner_lr_is_the_rate_of_the_joint_captioner_its_virtual_step_and_control(
        all_run, tmp_path):
    """`joint.captioner_lr` replaces the captioner's rates where the joint phase and the control
    continue it: at 1e-9 the control's `joint.iterations` Adam updates leave the warm-up captioner
    within 1e-6 (at its own rates they move it: test_control_arm_takes_the_joint_phases_...)."""
    workdir = _copy(all_run[0], tmp_path)
    for stage in (layout.JOINT, layout.CONTROL):   # their checkpoints hold the rates they ran at
        shutil.rmtree(workdir / stage)
    config = _config(captioner_lr=1e-9)
    prepared = prepare_lib.prepare(config, str(workdir))
    step = joint_trainer.build_run(config, str(workdir), prepared).step
    assert step.rates.captioner_lr == 1e-9
    for optimizer in (step.captioner_step.encoder_optimizer,
                      step.captioner_step.decoder_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(1e-9)
    model, _ = control.train(config, str(workdir), prepared)
    warm = trained.load_trained_captioner(config, str(workdir),
                                          prepared.tokenizer.vocabulary_size)
    largest = max(np.abs(w - c).max() for w, c in zip(_values(warm.trainable_variables),
                                                        _values(model.trainable_variables)))
    assert 0 < largest < 1e-6


def test_study_runs_every_arm_over_the_schedules_warm_up_and_reports(all_run, tmp_path):
    """`--mode=study` on one seed whose schedule is the all_run workdir (already finished, so
    only the other arm runs, over its linked warm-up stages; plain augmentation, whose joint
    phase has no hypergradient to trace: each arm with one costs 1-2 minutes of tracing); then a
    rerun does nothing."""
    study_dir = tmp_path / "study"
    shutil.copytree(all_run[0], study_dir / "train_96" / "seed_0")
    flags = ["--mode=study", "--config.study.seeds=(0,)", "--config.study.train_sizes=()",
             "--config.study.holdout=", "--config.study.corrupt_fraction=0",
             "--config.study.arms=('full','plain_augmentation')"]
    result = train_main(study_dir, *flags, config="configs/shapes_study.py:quick")
    assert result.returncode == 0, result.stderr[-4000:]
    study = json.loads((study_dir / "study.json").read_text())
    run = study["settings"]["train_96"]["seeds"]["0"]
    arms = run["arms"]
    assert list(arms) == ["control", "full", "plain_augmentation"] and run["pending_arms"] == []
    for arm, record in arms.items():
        assert 0 <= record["test"]["beam_sizes"]["3"]["Bleu_4"] <= 1, arm
    plain = arms["plain_augmentation"]["joint"]
    assert plain["iterations"] == 3 and plain["validation_loss_by_iteration"] == []
    assert all(plain["settings"][k] == v for k, v in plan.ARMS["plain_augmentation"].items())
    assert arms["full"]["test"] == json.loads(
        (study_dir / "train_96" / "seed_0" / "metrics.json").read_text()
    )["phases"]["captioner_after_joint"]
    arm_dir = study_dir / "train_96" / "seed_0" / "arms" / "plain_augmentation"
    assert os.path.islink(arm_dir / "captioner") and (arm_dir / "joint" / "checkpoints").is_dir()
    report = (study_dir / "report.md").read_text()
    assert "| plain_augmentation |" in report and "## Every arm against the control" in report
    again = train_main(study_dir, *flags, config="configs/shapes_study.py:quick")
    assert again.returncode == 0 and "starting" not in again.stderr


def test_hypergradient_probes_leave_every_model_bit_identical(all_run, tmp_path):
    workdir = _copy(all_run[0], tmp_path)
    config = _config()
    prepared = prepare_lib.prepare(config, str(workdir))
    run = joint_trainer.build_run(config, str(workdir), prepared)
    models = run.step.models
    every = [models.lm, models.generator, models.discriminator, models.captioner]
    before = [_values(m.variables) for m in every] + [_values([run.step.weight_logits])]
    streams = joint_trainer.batch_streams(config, _datasets(config, prepared), 0)
    batches = joint_trainer.next_batches(streams, run.sampler, config, draw=0)
    gan_noise = run.step.gan_noise_for(batches["gan"][0])
    result = tf.function(lambda: hypergradient.finite_difference(
        run.step.problem(batches, gan_noise), *run.step.arguments(), run.step.rates))()
    assert float(tf.norm(result.a)) > 0 and float(tf.norm(result.b)) > 0
    after = [_values(m.variables) for m in every] + [_values([run.step.weight_logits])]
    for b, a in zip(before, after):
        assert not _changed(b, a)


def test_synthesize_writes_pairs_a_coco_reader_reads_back(all_run, tmp_path):
    workdir = _copy(all_run[0], tmp_path)
    config = _config()
    config.synthesize.num_pairs = 6
    prepared = prepare_lib.prepare(config, str(workdir))
    path = synthesize.synthesize(config, str(workdir), prepared)
    examples = coco_reader.read_coco_captions(path, str(workdir / "synthetic" / "images"))
    assert len(examples) == 6
    for example in examples:
        pixels = tf.io.decode_png(tf.io.read_file(example.image))
        assert pixels.shape == (16, 16, 3)  # all_tiny's gan_image_size
        assert len(example.captions) == 1 and example.captions[0].split()

    # Figure 7: test captions, each with its real image and the generator's images for it
    figure = tf.io.decode_png(tf.io.read_file(str(workdir / "synthetic" / "real_vs_generated.png")))
    rows = (workdir / "synthetic" / "real_vs_generated.txt").read_text().splitlines()
    test = prepared.splits["test"]
    count, per_caption = config.gan.sample_captions, config.gan.samples_per_caption
    assert rows == [f"{row}. {test.flat_captions[k]}"
                    for row, k in enumerate(test.caption_row_starts[:count], 1)]
    assert figure.shape == (count * 18 + 2, (per_caption + 1) * 18 + 4, 3)  # 16 px, 2 px gaps
    metrics = json.loads((workdir / "metrics.json").read_text())
    text = open(report.write_report(str(workdir), metrics)).read()
    assert "(synthetic/real_vs_generated.png)" in text and rows[-1] in text
    assert "(gan/samples/samples_" in text


def test_control_arm_takes_the_joint_phases_real_batches_without_synthetic_pairs(all_run):
    """The control arm's captioner is the warm-up captioner after `joint.iterations` real-only
    updates: it moved from the warm-up weights, and differs from the joint captioner (which also
    learnt from synthetic pairs)."""
    workdir, config = str(all_run[0]), all_tiny.get_config()
    vocabulary = prepare_lib.prepare(config, workdir).tokenizer.vocabulary_size
    warm = trained.load_trained_captioner(config, workdir, vocabulary)
    joint = trained.load_joint_captioner(config, workdir, vocabulary)
    control = build_captioner(config.captioner, vocabulary, config.pipeline.captioner_image_size)
    checkpoints.restore_stage(workdir, layout.CONTROL, dict(model=control))
    weights = {name: _values(m.trainable_variables)
               for name, m in (("warm", warm), ("joint", joint), ("control", control))}
    assert _changed(weights["warm"], weights["control"])
    assert _changed(weights["joint"], weights["control"])
