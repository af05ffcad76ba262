"""Caption LM speed at the CPU default size (4 layers, 256 wide): training tokens/s (custom weighted
step, caption_shapes batches) and generation captions/s (beam 2 and greedy, batch 64, max length 20,
prompts of 5 words).

  python benchmarks/bench_lm.py [--steps=60] [--batches=3] [--out=benchmarks/results/bench_lm.json]
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.models import caption_lm  # noqa: E402
from caption_aug.training import lm_trainer  # noqa: E402
from configs import shapes  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_STEPS = flags.DEFINE_integer("steps", 60, "Timed training steps (after 5 warm-up steps).")
_BATCHES = flags.DEFINE_integer("batches", 3, "Timed generation batches (after one warm-up).")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_lm.json", "JSON output.")


def training_speed(config, lm_corpus, step, steps):
    """Training tokens/s (non-padding and padded) over `steps` steps of the weighted LM loss."""
    datasets = lm_trainer.corpus_datasets(config, lm_corpus)
    batches = list(datasets.lm("train", training=True).take(steps + 5))
    for batch in batches[:5]:
        step.train_step(batch)
    start, tokens, padded = time.perf_counter(), 0, 0
    for batch in batches[5:steps + 5]:
        figures = step.train_step(batch)
        tokens += int(batch["padding_mask"].numpy().sum())
        padded += int(batch["padding_mask"].numpy().size)
    float(figures["loss"])
    seconds = time.perf_counter() - start
    return {"steps": steps, "batch_size": config.pipeline.batch_size,
            "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
            "padded_tokens_per_s": round(padded / seconds, 1)}


def generation_speed(config, lm_corpus, model, sampler, num_beams, batches):
    """Captions/s for `batches` batches of 64 prompts (after one warm-up batch that traces)."""
    gen = config.lm.generation
    gen.sampler, gen.num_beams = sampler, num_beams
    tok = lm_corpus.tokenizer
    captions = lm_corpus.train.flat_captions[:gen.batch_size * (batches + 1)]
    prompts = caption_lm.prompt_tokens(captions, tok, gen.prompt_words)
    caption_lm.compile_for_generation(model, gen, seed=0)
    caption_lm.generate_captions(model, tok, prompts[:gen.batch_size], gen.max_length,
                                 gen.batch_size)
    start = time.perf_counter()
    out = caption_lm.generate_captions(model, tok, prompts[gen.batch_size:],
                                       gen.max_length, gen.batch_size)
    seconds = time.perf_counter() - start
    return {"sampler": sampler, "num_beams": num_beams, "batch_size": gen.batch_size,
            "max_length": gen.max_length, "captions": len(out), "seconds": round(seconds, 3),
            "captions_per_s": round(len(out) / seconds, 1)}


def main(_):
    config = shapes.get_config()
    with tempfile.TemporaryDirectory() as workdir:
        lm_corpus = lm_trainer.load_corpus(config, workdir)
        step = lm_trainer.build_step(config, lm_corpus)
        results = {"model": {k: config.lm[k] for k in ("num_layers", "hidden_dim", "num_heads")},
                   "vocabulary_size": lm_corpus.tokenizer.vocabulary_size,
                   "training": training_speed(config, lm_corpus, step, _STEPS.value)}
        print("training", json.dumps(results["training"]), flush=True)
        for name, sampler, beams in [("generation_beam2", "beam", 2),
                                     ("generation_greedy", "greedy", 1)]:
            results[name] = generation_speed(config, lm_corpus, step.model, sampler, beams,
                                             _BATCHES.value)
            print(name, json.dumps(results[name]), flush=True)
    results["cpu_count"] = os.cpu_count()
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
