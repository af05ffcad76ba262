"""Speed of the captioner: training step images/s and beam search captions/s.

  python benchmarks/bench_captioner.py [--steps=5] [--cases=paper,small,small_cnn64,resnet101]
                                       [--xla=false,true] [--nobeam_search] [--beam_cases=paper]
                                       [--out=benchmarks/results/bench_captioner.json]

Training step (teacher forced, loss + gradients + clipping + two Adams), random data:
  paper:       decoder dims 512, vocabulary 10,000, precomputed 14x14x2048 features, batch 32,
               captions of 20 steps (the reference: 3.9 images/s on 2 cores, torch CPU)
  small:       dims 256, vocabulary 2,000, 8x8x512 features, batch 32, 16 steps (reference: 72)
  small_cnn64: the plain small CNN (three stride-2 3x3 conv blocks) on 64x64 images, dims 256,
               vocabulary 519, batch 32, 16 steps: the captioner on caption_shapes before issue 11
  small_cnn64_stem, small_cnn64_deep, small_cnn64_stem_deep: the same with a stride-1 stem conv
               (small_cnn_stem=32), a second 3x3 conv per block (small_cnn_convs_per_block=2),
               and both; small_cnn64_deep is the default captioner until stop 32
  small_cnn64_default: whatever base_config() now sets (the relation head's second attention and
               the deep output; the attention supervision term is not timed: random captions
               carry no grounding)
  small_cnn64_transformer: the default with `captioner.decoder=transformer` (its defaults: 2
               blocks, 4 heads, width 256, feed-forward 512)
All but the last two decode with the paper's decoder (config_schema.PAPER_DECODER).
  resnet101:   frozen ResNet-101 at 256x256 + paper decoder, batch 8 (reference: 1.7 images/s)
each with XLA off and on. Beam search (the `--beam_cases` models, the paper-size decoder by
default; batch 64, exactly 20 steps since the end token is banned) at k=3 and k=5, XLA off and on, batched vs one image at a time (the
reference's way, which also recomputes the attention projection each step; ours per image does
not), same run. ResNet-101 runs without XLA only (compiling it takes minutes).
"""

import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from caption_aug import config_schema  # noqa: E402
from caption_aug.models.captioner import build_captioner  # noqa: E402
from caption_aug.models.captioner.beam_search import beam_search  # noqa: E402
from caption_aug.training.captioner_trainer import CaptionerStep  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)
from caption_aug.config_schema import PAPER_DECODER  # noqa: E402

_STEPS = flags.DEFINE_integer("steps", 5, "Timed training steps per case (after 2 warm-up steps).")
_CASES = flags.DEFINE_list("cases", ["paper", "small", "small_cnn64", "small_cnn64_deep",
                                     "small_cnn64_default", "resnet101"],
                           "Training-step cases to run (small CNN variants: see CASES).")
_XLA = flags.DEFINE_list("xla", ["false", "true"], "XLA settings of the training-step cases.")
_BEAM = flags.DEFINE_bool("beam_search", True, "Also time beam search.")
_BEAM_CASES = flags.DEFINE_list("beam_cases", ["paper"], "Models (CASES) whose beam search is timed.")
_BEAM_IMAGES = flags.DEFINE_integer("beam_images", 64, "Batch of the batched beam search.")
_SINGLE_IMAGES = flags.DEFINE_integer("single_images", 8, "Images decoded one at a time.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_captioner.json", "JSON output.")

# name: (backbone, input size, input channels, encoded size, dims, vocabulary, batch, steps[,
#        overrides of base_config()'s captioner keys])
_SMALL_CNN = dict(small_cnn_filters=(32, 64, 128), small_cnn_stem=0, small_cnn_convs_per_block=1,
                  small_cnn_residual=False)
_PLAIN = {**PAPER_DECODER, **_SMALL_CNN}
CASES = {
    "paper": ("features", 14, 2048, 14, 512, 10000, 32, 20, PAPER_DECODER),
    "small": ("features", 8, 512, 8, 256, 2000, 32, 16, PAPER_DECODER),
    "small_cnn64": ("small_cnn", 64, 3, 8, 256, 519, 32, 16, _PLAIN),
    "small_cnn64_stem": ("small_cnn", 64, 3, 8, 256, 519, 32, 16, {**_PLAIN, "small_cnn_stem": 32}),
    "small_cnn64_deep": ("small_cnn", 64, 3, 8, 256, 519, 32, 16,
                         {**_PLAIN, "small_cnn_convs_per_block": 2}),
    "small_cnn64_stem_deep": ("small_cnn", 64, 3, 8, 256, 519, 32, 16,
                              {**_PLAIN, "small_cnn_stem": 32, "small_cnn_convs_per_block": 2}),
    "small_cnn64_default": ("small_cnn", 64, 3, 8, 256, 519, 32, 16, {}),
    "small_cnn64_transformer": ("small_cnn", 64, 3, 8, 256, 519, 32, 16,
                                {"decoder": "transformer"}),
    "resnet101": ("resnet101", 256, 3, 8, 512, 10000, 8, 20, PAPER_DECODER),
}
REFERENCE = {"paper": 3.9, "small": 72.0, "resnet101": 1.7}  # images/s, torch CPU, 2 threads


def captioner_config(backbone, channels, encoded_size, dims, jit, overrides=None):
    cfg = config_schema.base_config().captioner
    for key, value in (overrides or {}).items():
        cfg[key] = value
    cfg.backbone, cfg.feature_dim, cfg.encoded_size = backbone, channels, encoded_size
    cfg.embedding_dim = cfg.attention_dim = cfg.decoder_dim = dims
    cfg.fine_tune_stages = ()  # resnet101: frozen, as in the reference's timing
    cfg.jit_compile = jit
    return cfg


def time_train_step(case, jit, steps):
    backbone, size, channels, encoded, dims, vocab, batch, length, *overrides = CASES[case]
    keras.utils.set_random_seed(0)
    model_config = captioner_config(backbone, channels, encoded, dims, jit, *overrides)
    model = build_captioner(model_config, vocab, size)
    trainer = CaptionerStep(model_config, model, max_consecutive_skips=20)
    data = {"image": tf.random.normal([batch, size, size, channels]),
            "token_ids": tf.random.uniform([batch, length + 1], 2, vocab, tf.int32),
            "padding_mask": tf.ones([batch, length + 1], tf.bool)}
    for _ in range(2):
        float(trainer.train_step(data)["loss"])
    start = time.perf_counter()
    for _ in range(steps):
        float(trainer.train_step(data)["loss"])
    seconds = (time.perf_counter() - start) / steps
    encoder = {key: model_config[key] for key in _SMALL_CNN} if backbone == "small_cnn" else None
    return {"case": case, "xla": jit, "batch": batch, "steps": length, "vocabulary": vocab,
            "dims": dims, "small_cnn": encoder,
            "decoder": {"decoder": model_config.decoder,
                        **{key: model_config[key] for key in PAPER_DECODER}},
            "seconds_per_step": seconds, "images_per_second": batch / seconds,
            "reference_images_per_second": REFERENCE.get(case)}


def time_beam_search(case, beam_size, jit, batch_images, single_images, length=20):
    backbone, size, channels, encoded, dims, vocab, _, _, overrides = CASES[case]
    keras.utils.set_random_seed(0)
    model = build_captioner(captioner_config(backbone, channels, encoded, dims, False, overrides),
                            vocab, size)
    features = model.encoder(tf.random.normal([batch_images, size, size, channels]))

    @tf.function(jit_compile=jit)
    def decode(features):
        return beam_search(model.decoder, features, beam_size, length, start_id=0, end_id=0,
                           pad_id=1, banned_ids=(0, 1)).log_probs  # no end: exactly `length` steps

    def rate(batch, images):
        decode(features[:batch]).numpy()  # compiles for this batch size
        start = time.perf_counter()
        for i in range(0, images, batch):
            decode(features[i:i + batch]).numpy()
        return images / (time.perf_counter() - start)

    batched = rate(batch_images, batch_images)
    single = rate(1, single_images)
    return {"case": case, "beam_size": beam_size, "xla": jit, "batch": batch_images, "steps": length,
            "batched_captions_per_second": batched, "per_image_captions_per_second": single,
            "speedup": batched / single,
            "reference_captions_per_second": 1.3 if beam_size == 5 else None}


def main(argv):
    del argv
    results = {"train_step": [], "beam_search": [],
               "note": "2 shared CPU cores: other jobs ran at the same time; figures are noisy"}
    for case in _CASES.value:
        xla = [value.lower() in ("true", "1") for value in _XLA.value]
        for jit in [False] if case == "resnet101" else xla:  # XLA-compiling ResNet: minutes
            row = time_train_step(case, jit, _STEPS.value if case != "resnet101" else 2)
            results["train_step"].append(row)
            print(f"train step {case:12s} xla={str(jit):5s}: {row['images_per_second']:8.1f} images/s"
                  + (f"  (reference {row['reference_images_per_second']})"
                     if row["reference_images_per_second"] else ""), flush=True)
    beam_settings = [(case, jit, beam_size) for case in _BEAM_CASES.value
                     for jit in (False, True) for beam_size in (3, 5)]
    for case, jit, beam_size in beam_settings if _BEAM.value else ():
        row = time_beam_search(case, beam_size, jit, _BEAM_IMAGES.value, _SINGLE_IMAGES.value)
        results["beam_search"].append(row)
        print(f"beam search {case} k={beam_size} xla={str(jit):5s}: batch of {row['batch']} "
              f"{row['batched_captions_per_second']:.1f} captions/s, one image at a time "
              f"{row['per_image_captions_per_second']:.1f} ({row['speedup']:.1f}x)", flush=True)
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
