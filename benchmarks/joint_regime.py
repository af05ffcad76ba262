"""What the joint phase's captioner regime does by itself: from a study run's warmed-up captioner,
`joint.iterations` real-only updates (the control arm's batches) under variants of the learning
rate and of attention supervision, each scored on the test split at beam 3 (BLEU-4, all-true,
claim precision), beside the warm-up captioner itself. The control arm and the joint phase use
fresh Adam optimisers at `joint.captioner_lr` (when 0, `captioner.decoder_lr`) and real pairs
without grounding.

  python benchmarks/joint_regime.py --run_dir=runs/study/train_250/seed_0 \
      [--config=configs/shapes_study.py] [--out=benchmarks/results/joint_regime.json]

Reads the run's dataset, tokenizer and best warm-up captioner (copied to a temporary folder: the
run is not written to).
"""

import json
import os
import shutil
import sys
import tempfile

import keras
from absl import app
from absl import flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from caption_aug import config_schema  # noqa: E402
from caption_aug.data import pipelines  # noqa: E402
from caption_aug.data import prepare  # noqa: E402
from caption_aug.data.caption_shapes import grounding  # noqa: E402
from caption_aug.evaluation import captioner_eval  # noqa: E402
from caption_aug.study import plan  # noqa: E402
from caption_aug.training import captioner_trainer  # noqa: E402
from caption_aug.training.joint import trainer as joint_trainer  # noqa: E402
from caption_aug.workdir import layout  # noqa: E402
from caption_aug.workdir import trained  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_CONFIG = config_flags.DEFINE_config_file("config", "configs/shapes_study.py", "The study config.")
_RUN_DIR = flags.DEFINE_string("run_dir", None, "A study run: WORKDIR/<setting>/seed_<k>.",
                               required=True)
_OUT = flags.DEFINE_string("out", "benchmarks/results/joint_regime.json", "JSON output.")
# (name, learning rate, attention supervision on the real pairs); None: no updates
VARIANTS = (("warm-up captioner", None, False),
            ("1e-3, unsupervised (the study's regime before joint.captioner_lr)", 1e-3, False),
            ("1e-4, unsupervised (configs/shapes_study.py's joint.captioner_lr)", 1e-4, False),
            ("1e-3, supervised", 1e-3, True))


def run_config(run_dir: str):
    """The config the study gave this (setting, seed): its setting's data, its seed."""
    setting_name = os.path.basename(os.path.dirname(os.path.abspath(run_dir)))
    seed = int(os.path.basename(os.path.abspath(run_dir))[len("seed_"):])
    setting = next(s for s in plan.settings(_CONFIG.value) if s.name == setting_name)
    config = plan.run_config(_CONFIG.value, setting, seed, "control")
    config.captioner.eval_beam_sizes = (3,)
    return config


def score(config, workdir: str, prepared, learning_rate, supervised: bool) -> dict:
    """Test figures at beam 3 of the warm-up captioner after the variant's updates."""
    keras.utils.set_random_seed(config.seed)
    vocabulary = prepared.tokenizer.vocabulary_size
    model = trained.load_trained_captioner(config, workdir, vocabulary)
    if learning_rate is not None:
        config = config.copy_and_resolve_references()
        config.joint.captioner_lr = learning_rate
        cfg = config_schema.joint_captioner(config)
        step = captioner_trainer.CaptionerStep(cfg, model, config.max_consecutive_skips)
        datasets = pipelines.Datasets(config, prepared.splits, prepared.tokenizer)
        if supervised:
            grounded = grounding.split_grounding(prepared.splits["train"], prepared.tokenizer,
                                                 cfg.encoded_size, config.data.max_caption_tokens)
            batches = iter(datasets.captioner("train", training=True, seed=config.seed + 2,
                                              grounding=grounded).repeat())
        else:
            batches = joint_trainer.real_stream(config, datasets, 0)
        for _ in range(config.joint.iterations):
            step.train_step(next(batches))
    metrics = captioner_eval.evaluate_test(config, workdir, prepared, model,
                                           out_dir=os.path.join(workdir, "evaluation"))
    beam = metrics["beam_sizes"]["3"]
    return {"bleu_4": round(beam["Bleu_4"], 4), "all_true": round(beam["semantic"]["all_true"], 4),
            "claim_precision": round(beam["semantic"]["precision"], 4)}


def main(_):
    config = run_config(_RUN_DIR.value)
    results = {"run_dir": _RUN_DIR.value, "updates": config.joint.iterations, "variants": {}}
    with tempfile.TemporaryDirectory() as workdir:
        for name in ("tfds", "tokenizer", layout.CAPTIONER):
            shutil.copytree(os.path.join(_RUN_DIR.value, name), os.path.join(workdir, name))
        prepared = prepare.prepare(config, workdir)
        for name, learning_rate, supervised in VARIANTS:
            results["variants"][name] = score(config, workdir, prepared, learning_rate, supervised)
            print(name, json.dumps(results["variants"][name]), flush=True)
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
