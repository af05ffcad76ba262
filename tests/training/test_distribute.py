"""tf.distribute (`config.distribute`, caption_aug/distribute.py) over 2 logical CPU devices: the
mirrored captioner, encoder-pretraining, LM, sentence-encoder and GAN steps and the joint
iteration equal one device on the same global batch, and the modes not distributed refuse in one
line. Each in a fresh process: the CPU is split before TensorFlow starts. (The stages' modes run
and resume mirrored: test_distribute_runs.py.)"""

import json
import subprocess
import sys

import pytest

from caption_aug import config_schema
from tests.conftest import MIRRORED
from tests.conftest import REPO_ROOT
from tests.conftest import train_main

# Largest difference mirrored vs one device, relative to the largest value (the loss: to itself).
# Measured 2026-12-06 (float32): loss 8e-8 / 1.3e-7 / 2e-7 (captioner / LM / encoder), Adam
# moments at most 4e-6, batch-norm statistics at most 6e-7. Known-bad, each tried: per-replica
# denominators (captioner) put the loss and moments off by 1.0, batch norm not synchronised by
# 0.23, the encoder's contrastive loss over each replica's rows alone by 0.46 and 1.0, and shares
# of 1/N of a sparse gradient (Keras' Adam squares repeated rows one by one) its second moments
# by 0.02. mixed_bfloat16 (captioner): loss 4e-5, moments 5e-3 (8-bit mantissas).
# The GAN (both steps, GAN-INT, mode seeking, EMA, shifted matching loss; encoder / trainable
# conditioning): loss 4e-7 / 1.7e-6, moments 7e-6 / 1.6e-6, statistics 9e-6 / 8e-6. Known-bad, each
# tried: each replica taking the noise's first rows puts the loss off by 0.15 and the moments by
# 1.1, batch norm not synchronised 0.16 and 1.8, the matching loss over each replica's own rows
# 0.39 and 1.5 (second moments 2.8), the mode-seeking term over them 1.0 and 0.44.
# The encoders' pretraining step (classifier, measured 2026-12-07): loss 1e-7, moments 3e-7,
# statistics 6e-8; known-bad: each replica's mean over its own rows puts the loss and moments off
# by 1.0, batch norm not synchronised the moments by 0.45.
FLOAT32 = dict(loss=1e-5, momentums=1e-4, velocities=1e-3, statistics=1e-4)
BFLOAT16 = dict(loss=1e-3, momentums=3e-2, velocities=3e-2, statistics=1e-4)
# One joint iteration, twice (hypergradient, A and B updates, LM, GAN and captioner updates; tiny
# random models of configs/hypergrad_check.py, hinge and matching loss on). Measured 2026-12-07:
# the stages' figures 4e-7, moments 1e-5, statistics 5e-5, A 1e-6, B's Adam moments 1e-4; the
# hypergradient's figures 3e-4: finite differences amplify rounding (one device on batches
# perturbed by 1e-7 moves them by 6e-5). Known-bad, each tried: every replica's probes from its
# own share alone put the hypergradient figures off by 7.0, A by 0.012 and B's moments by 0.95;
# every replica taking the first rows of L_gen's noise 23, 0.005 and 1.6.
JOINT = dict(loss=1e-5, hypergradient=3e-3, momentums=1e-4, velocities=1e-3, statistics=1e-4,
             caption_weights=1e-4, architecture_moments=1e-2)
# The captioner on a random keras.applications ResNet-50 (conv5 trained, its batch norm
# synchronised by `distribute.synchronize_batch_norms`), measured 2026-12-07: loss 3e-6, moments
# 2e-5, statistics 3e-6. A deep random network on 6 images amplifies rounding: one device on
# images perturbed by 1e-7 moves its moments by 0.03 (the loss by 7e-6), hence the moments'
# looser bound. Known-bad: batch norm not synchronised puts the loss off by 0.51, the moments by
# 1.2, the statistics by 0.057, and the replicas' weights apart. (With conv3-conv5 trained the
# network is chaotic: perturbed inputs move the moments by 0.5.)
RESNET = dict(loss=1e-4, momentums=0.1, velocities=0.1, statistics=1e-4)
CASES = [("captioner,classifier,lm,encoder,gan,gan_trainable", "float32", FLOAT32),
         ("captioner_resnet", "float32", RESNET),
         ("captioner", "mixed_bfloat16", BFLOAT16), ("joint", "float32", JOINT)]


@pytest.mark.slow
@pytest.mark.parametrize("stages,policy,tolerances", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_mirrored_steps_equal_one_device_on_the_same_global_batch(stages, policy, tolerances):
    result = subprocess.run([sys.executable, "-m", "tests.training.mirrored_steps", stages, policy],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [report["stage"] for report in reports] == stages.split(",")
    for report in reports:
        assert report["replicas"] == 2 and report["replicas_agree"], report
        assert report["applied"] == [1.0, 1.0], report
        for key, tolerance in tolerances.items():
            assert report[key] <= tolerance, (report["stage"], key, report[key],
                                              report["figures"])


def test_a_mode_not_distributed_refuses_the_mirrored_strategy_in_one_line(tmp_path):
    result = train_main(tmp_path, "--mode=check_hypergradient", *MIRRORED,
                        config="configs/hypergrad_check.py")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: distribute.strategy='mirrored' runs only --mode=data / train_captioner / eval / "
        "export / train_lm / train_encoder / train_gan / all / joint / dry_run; "
        "--mode=check_hypergradient needs the default strategy")


def test_config_names_a_bad_strategy_xla_and_exact_hypergradients_under_mirrored():
    config = config_schema.base_config()
    config.distribute.strategy = "parameter_server"
    with pytest.raises(ValueError, match="distribute.strategy"):
        config_schema.validate(config)
    config.distribute.strategy = "mirrored"
    config.captioner.jit_compile = True
    with pytest.raises(ValueError, match="captioner.jit_compile"):
        config_schema.validate(config)
    config.captioner.jit_compile = False
    config.joint.jit_compile = True
    with pytest.raises(ValueError, match="joint.jit_compile"):
        config_schema.validate(config)
    config.joint.jit_compile = False
    config.joint.hypergradient = "exact"
    with pytest.raises(ValueError, match="joint.hypergradient"):
        config_schema.validate(config)
