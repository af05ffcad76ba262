"""Sentence encoder training speed at the CPU default size (small CNN at 64x64, bidirectional GRU,
1024-d): image-caption pairs/s of the contrastive step on caption_shapes batches, under each
`--mixed_precision` dtype policy (same batches, same run).

  python benchmarks/bench_encoder.py [--steps=40] [--mixed_precision=float32,mixed_bfloat16]
      [--out=benchmarks/results/bench_encoder.json]
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
import keras

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.data import pipelines  # noqa: E402
from caption_aug.data import prepare  # noqa: E402
from caption_aug.training import encoder_trainer  # noqa: E402
from configs import shapes  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_STEPS = flags.DEFINE_integer("steps", 40, "Timed training steps (after 3 warm-up steps).")
_POLICIES = flags.DEFINE_list("mixed_precision", ["float32"], "Keras dtype policies to time.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_encoder.json", "JSON output.")


def pairs_per_second(config, vocabulary_size: int, batches: list, policy: str) -> float:
    """Training pairs/s of a fresh encoder step built under `policy` on `batches` (3 warm-up)."""
    keras.config.set_dtype_policy(policy)
    trainer = encoder_trainer.build_step(config, vocabulary_size)
    for batch in batches[:3]:
        trainer.train_step(batch)
    start, pairs = time.perf_counter(), 0
    for batch in batches[3:]:
        figures = trainer.train_step(batch)
        pairs += int(batch["image_index"].shape[0])
    float(figures["loss"])
    return pairs / (time.perf_counter() - start)


def main(_):
    config = shapes.get_config()
    with tempfile.TemporaryDirectory() as workdir:
        data = prepare.prepare(config, workdir)
        datasets = pipelines.Datasets(config, data.splits, data.tokenizer)
        batches = list(encoder_trainer.train_batches(config, datasets, 0).take(_STEPS.value + 3))
        rates = {policy: round(pairs_per_second(config, data.tokenizer.vocabulary_size, batches,
                                                policy), 1) for policy in _POLICIES.value}
    enc = config.encoder
    results = {"image_size": config.pipeline.encoder_image_size,
               "image_backbone": enc.image_backbone, "rnn": enc.rnn, "rnn_units": enc.rnn_units,
               "embedding_dim": enc.embedding_dim, "batch_size": config.pipeline.batch_size,
               "steps": len(batches) - 3, "pairs_per_s": rates, "cpu_count": os.cpu_count()}
    print(json.dumps(results))
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
