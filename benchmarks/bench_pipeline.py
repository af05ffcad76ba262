"""Throughput of the captioner tf.data pipeline (images/s = image-caption pairs/s) on caption_shapes
and on the real COCO sample, with the decoded-image table (cached) and with per-pair decoding.

  python benchmarks/bench_pipeline.py [--epochs=3] [--out=benchmarks/results/bench_pipeline.json]
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.data import pipelines  # noqa: E402
from caption_aug.data import prepare  # noqa: E402
from configs import coco_sample  # noqa: E402
from configs import shapes  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_EPOCHS = flags.DEFINE_integer("epochs", 3, "Timed epochs per case (after one warm-up epoch).")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_pipeline.json", "JSON output.")


def measure(split, tokens, tok, config, size, cache_mb, epochs):
    """Seconds to build the loader, then images/s over `epochs` full passes of the training pipeline."""
    start = time.perf_counter()
    loader = pipelines.ImageLoader(split, size, cache_mb)
    build_s = time.perf_counter() - start
    dataset = pipelines.captioner_dataset(
        split, tokens, loader, tok.pad_id, config.pipeline.batch_size,
        config.pipeline.bucket_boundaries, config.pipeline.captioner_normalization,
        training=True, seed=0)
    for _ in dataset:  # warm-up epoch: traces the functions
        pass
    start, images = time.perf_counter(), 0
    for _ in range(epochs):
        for batch in dataset:
            images += int(batch["image"].shape[0])
    seconds = time.perf_counter() - start
    return {"image_size": size, "cached": loader.cached, "loader_build_s": round(build_s, 3),
            "images": images, "seconds": round(seconds, 3), "images_per_s": round(images / seconds, 1)}


def main(_):
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, config, size in [("caption_shapes", shapes.get_config(), 64),
                                   ("coco_sample", coco_sample.get_config(), 224)]:
            data = prepare.prepare(config, os.path.join(workdir, name))
            split = data.splits["train"]
            tokens = pipelines.frame_tokens(split.caption_tokens, data.tokenizer,
                                            config.data.max_caption_tokens)
            for cache_mb in (config.data.cache_max_mb, 0):
                case = f"{name}_{'cached' if cache_mb else 'decoded'}"
                results[case] = measure(split, tokens, data.tokenizer, config, size, cache_mb,
                                        _EPOCHS.value)
                print(case, json.dumps(results[case]), flush=True)
    results["cpu_count"] = os.cpu_count()
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
