"""`--mode=eval`: the captioner's test BLEU-1..4 at beam sizes 1, 3 and 5 (the paper's Table 2).

Captions are generated without teacher forcing by the batched beam search, detokenised in graph,
and scored with the COCO-toolkit BLEU. Writes into `WORKDIR/captioner/`: `metrics.json` (BLEU per
beam size, semantic accuracy on caption_shapes, decoding speed), `results_test_beam{k}.json`
(COCO results files for `caption_aug_eval`) and `attention_maps.png` (the paper's Figure 11).
"""

import dataclasses
import json
import os
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from caption_aug import compiled
from caption_aug.data import corpus
from caption_aug.data import pipelines
from caption_aug.data import prepare as prepare_lib
from caption_aug.data.caption_shapes import CLAIM_KINDS, score_caption
from caption_aug.evaluation import attention_maps
from caption_aug.evaluation import bleu
from caption_aug.models.captioner import detokenize
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib
from caption_aug.workdir import summaries
from caption_aug.workdir import trained


def decode_length(config) -> int:
    """Most tokens a generated caption may have (after the start token, the end token included)."""
    return config.captioner.max_decode_length or config.data.max_caption_tokens - 1


class CaptionGenerator:
    """Beam search (XLA-compiled with `jit_compile`) then in-graph detokenisation, for one model."""

    def __init__(self, model, tokenizer, max_length: int, jit_compile: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._search = compiled.function(self._beam_search, reduce_retracing=True,
                                   jit_compile=jit_compile)
        self._detokenize = compiled.function(lambda result: detokenize(tokenizer.keras_tokenizer, result),
                                       reduce_retracing=True)

    def _beam_search(self, images, beam_size):
        tok = self.tokenizer
        return self.model.generate(images, beam_size, self.max_length, tok.start_id, tok.end_id,
                                   tok.pad_id)

    def __call__(self, images, beam_size: int) -> Dict[str, np.ndarray]:
        """{"captions" (str), "log_probs", "tokens", "word_mask", "finished", "alphas"} of images."""
        result = self._search(images, beam_size)
        out = {key: value.numpy() for key, value in result._asdict().items()}
        out["captions"] = self._detokenize(result).numpy()
        return out


@dataclasses.dataclass
class GeneratedCaptions:
    """Captions of a split by image id, with what the figure needs for the first `kept` images."""
    hypotheses: Dict[int, str]
    references: Dict[int, List[str]]
    log_probs: Dict[int, float]
    seconds: float
    kept: Dict[str, np.ndarray]


def generate_split(generator: CaptionGenerator, dataset: tf.data.Dataset, beam_size: int,
                   max_images: int = 0, keep: int = 0) -> GeneratedCaptions:
    """Captions every image of an `eval_dataset` (or the first `max_images`); keeps images,
    tokens, word masks and attention of the first `keep` for attention maps."""
    hypotheses, references, log_probs, kept = {}, {}, {}, {}
    start = time.perf_counter()
    for batch in dataset:
        out = generator(batch["image"], beam_size)
        for i, image_id in enumerate(batch["image_id"].numpy().tolist()):
            hypotheses[image_id] = out["captions"][i].decode("utf-8", "replace")
            references[image_id] = [r.decode("utf-8") for r in batch["references"][i].numpy() if r]
            log_probs[image_id] = float(out["log_probs"][i])
        if len(kept.get("image", ())) < keep:
            for key, value in [("image", batch["image"].numpy())] + list(out.items()):
                kept[key] = np.concatenate([kept[key], value])[:keep] if key in kept else value[:keep]
        if max_images and len(hypotheses) >= max_images:
            break
    return GeneratedCaptions(hypotheses, references, log_probs, time.perf_counter() - start, kept)


def semantic_accuracy(hypotheses: Dict[int, str], split: corpus.Split) -> dict:
    """On caption_shapes, from the scenes' ground truth: share of captions whose every claim is
    true (and that name an object), the mean share of true claims per caption, the share naming
    every object, the share naming one object twice, and, per claim kind, the share of its
    claims that are true (over all captions; kinds never stated are left out). With a holdout
    (`data.caption_shapes.holdout`), all-true and precision also on the scenes showing a held-out
    combination (`novel`) and on the others (`seen`)."""
    metadata = dict(zip(split.image_ids.tolist(), split.metadata))
    scores = [score_caption(caption, metadata[image_id]) for image_id, caption in hypotheses.items()]
    stated = {kind: sum(s.stated[kind] for s in scores) for kind in CLAIM_KINDS}
    result = {"all_true": float(np.mean([s.all_true for s in scores])),
              "precision": float(np.mean([s.precision for s in scores])),
              "all_mentioned": float(np.mean([s.all_mentioned for s in scores])),
              "repeated_object": float(np.mean([s.repeated for s in scores])),
              "precision_by_kind": {kind: sum(s.correct[kind] for s in scores) / n
                                    for kind, n in stated.items() if n}}
    novel = np.array([bool(metadata[image_id].get("novel")) for image_id in hypotheses])
    if novel.any() and not novel.all():
        result["by_novelty"] = {
            name: {"images": int(mask.sum()),
                   "all_true": float(np.mean([s.all_true for s, m in zip(scores, mask) if m])),
                   "precision": float(np.mean([s.precision for s, m in zip(scores, mask) if m]))}
            for name, mask in (("novel", novel), ("seen", ~novel))}
    return result


def score(generated: GeneratedCaptions, split: corpus.Split) -> dict:
    """BLEU-1..4 (COCO toolkit conventions), plus semantic accuracy where the truth is known."""
    metrics = bleu.corpus_bleu(generated.hypotheses, generated.references)
    if split.metadata is not None:
        metrics["semantic"] = semantic_accuracy(generated.hypotheses, split)
    metrics["mean_log_prob"] = float(np.mean(list(generated.log_probs.values())))
    metrics["images"] = len(generated.hypotheses)
    metrics["images_per_second"] = len(generated.hypotheses) / max(generated.seconds, 1e-9)
    return metrics


def attention_png(kept: Dict[str, np.ndarray], keras_tokenizer,
                  normalization: str) -> Optional[bytes]:
    """The attention figure of kept images as PNG bytes; None for a decoder without attention."""
    if not kept["alphas"].shape[-1]:
        return None
    words = [attention_maps.token_words(keras_tokenizer, tokens, int(mask.sum() + finished))
             for tokens, mask, finished in zip(kept["tokens"], kept["word_mask"], kept["finished"])]
    figure = attention_maps.attention_figure(
        attention_maps.to_uint8(kept["image"], normalization), words, kept["alphas"])
    return summaries.figure_png(figure)


def evaluate_test(config, workdir: str, prepared: prepare_lib.PreparedData, model,
                  out_dir: Optional[str] = None) -> dict:
    """Scores test captions at every configured beam size and writes the results files and figure
    to `out_dir` (default WORKDIR/captioner)."""
    out_dir = out_dir or layout.stage_dir(workdir, layout.CAPTIONER)
    os.makedirs(out_dir, exist_ok=True)
    split = prepared.splits["test"]
    if not split.num_images:
        raise ValueError("the test split is empty: nothing to evaluate")
    dataset = pipelines.Datasets(config, prepared.splits, prepared.tokenizer).eval("test")
    generator = CaptionGenerator(model, prepared.tokenizer, decode_length(config),
                                 config.captioner.beam_search_jit_compile)
    metrics = {"split": "test", "beam_sizes": {}}
    beam_sizes = list(config.captioner.eval_beam_sizes)
    figure_beam = 3 if 3 in beam_sizes else max(beam_sizes)  # the paper's figures use beam 3
    for beam_size in beam_sizes:
        keep = config.captioner.num_attention_maps if beam_size == figure_beam else 0
        generated = generate_split(generator, dataset, beam_size, keep=keep)
        metrics["beam_sizes"][str(beam_size)] = score(generated, split)
        logging.info("test beam %d: %s", beam_size, metrics["beam_sizes"][str(beam_size)])
        with open(os.path.join(out_dir, f"results_test_beam{beam_size}.json"), "w") as f:
            json.dump([{"image_id": image_id, "caption": caption}
                       for image_id, caption in generated.hypotheses.items()], f)
        figure = keep and attention_png(generated.kept, prepared.tokenizer.keras_tokenizer,
                                        config.pipeline.captioner_normalization)
        if figure:
            with open(os.path.join(out_dir, "attention_maps.png"), "wb") as f:
                f.write(figure)
    metrics_lib.write_json(os.path.join(out_dir, metrics_lib.METRICS_JSON), metrics)
    return metrics


def format_metrics(metrics: dict) -> str:
    """One line per beam size: BLEU-1..4 (and semantic accuracy where known)."""
    lines = []
    for beam_size, m in metrics["beam_sizes"].items():
        bleu_scores = " / ".join(f"{m[f'Bleu_{n}']:.4f}" for n in range(1, 5))
        line = f"beam {beam_size}: BLEU-1..4 {bleu_scores}"
        if "semantic" in m:
            semantic = m["semantic"]
            line += (f"   all-true {semantic['all_true']:.3f}, "
                     f"claim precision {semantic['precision']:.3f}, "
                     f"all objects named {semantic['all_mentioned']:.3f}, "
                     f"an object named twice {semantic['repeated_object']:.3f}")
        lines.append(line)
    return "\n".join(lines)


def run_mode(config, workdir: str) -> dict:
    """`--mode=eval`: test-split BLEU by beam size for the trained captioner."""
    prepared = prepare_lib.prepare(config, workdir)
    model = trained.load_trained_captioner(config, workdir, prepared.tokenizer.vocabulary_size)
    metrics = evaluate_test(config, workdir, prepared, model)
    print(format_metrics(metrics))
    print(f"metrics written to {metrics_lib.metrics_path(workdir, layout.CAPTIONER)}")
    return metrics
