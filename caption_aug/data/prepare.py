"""`--mode=data`: read the configured source, validate it, fit the shared tokenizer, summarise.

Everything a run makes lives in the workdir: `tokenizer/` (reloaded on resume, so token ids never
change under a trained model), `data/image_checks.json` (per-file validation cache) and
`data/summary.json` (counts, vocabulary, caption lengths, skipped items by reason).
"""

import dataclasses
import json
import os
from typing import Dict, List

import numpy as np
from absl import logging

from caption_aug.data import corpus
from caption_aug.data import corruption
from caption_aug.data import example as example_lib
from caption_aug.data import readers
from caption_aug.data import validate
from caption_aug.data.caption_shapes import loader as shapes_loader
from caption_aug.text import tokenizer as tokenizer_lib

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class PreparedData:
    """The validated splits, the shared tokenizer and the summary of how they were made."""
    splits: Dict[str, corpus.Split]
    tokenizer: tokenizer_lib.CaptionTokenizer
    summary: dict


def read_source(config, workdir: str, skips: example_lib.SkipCounter
                ) -> Dict[str, List[example_lib.Example]]:
    """Raw examples per split from the configured source (parse-level problems go to `skips`)."""
    data = config.data
    if data.source == "caption_shapes":
        params = data.caption_shapes.to_dict()
        params["holdout"] = tuple(tuple(combination.split())
                                  for combination in params["holdout"].split(",") if combination.strip())
        data_dir = os.path.join(workdir, "tfds")
        return {split: shapes_loader.load_caption_shapes(split, data_dir, **params)
                for split in SPLITS}
    if data.source == "coco":
        examples = readers.read_coco_captions(data.coco.annotations, data.coco.image_dir, skips=skips)
        return split_by_fraction(examples, data.validation_fraction, data.test_fraction, config.seed)
    if data.source == "karpathy":
        names = {"train": "train", "validation": "val", "test": "test"}
        return {split: readers.read_karpathy(data.karpathy.json, data.karpathy.image_dir, name,
                                             skips=skips)
                for split, name in names.items()}
    if data.source == "flickr8k":
        f8k = data.flickr8k
        lists = {"train": f8k.train_list, "validation": f8k.validation_list, "test": f8k.test_list}
        return {split: readers.read_flickr8k(f8k.token_file, f8k.image_dir, path, skips=skips)
                if path else [] for split, path in lists.items()}
    if data.source == "tfds_coco_captions":
        names = {"train": data.tfds.train_split, "validation": data.tfds.validation_split,
                 "test": data.tfds.test_split}
        return {split: readers.read_tfds_coco_captions(name, data_dir=data.tfds.data_dir or None)
                for split, name in names.items()}
    raise ValueError(f"config key data.source={data.source!r} is invalid")


def split_by_fraction(examples: List[example_lib.Example], validation_fraction: float,
                      test_fraction: float, seed: int) -> Dict[str, List[example_lib.Example]]:
    """Seeded random split of images for sources that have no splits of their own."""
    order = np.random.default_rng(seed).permutation(len(examples))
    num_val = int(round(validation_fraction * len(examples)))
    num_test = int(round(test_fraction * len(examples)))
    pick = lambda idx: [examples[k] for k in sorted(idx)]
    return {"validation": pick(order[:num_val]), "test": pick(order[num_val:num_val + num_test]),
            "train": pick(order[num_val + num_test:])}


def _to_split(name: str, examples: List[example_lib.Example]) -> corpus.Split:
    has_metadata = any(ex.metadata is not None for ex in examples)
    return corpus.Split(
        name=name,
        image_ids=np.array([ex.image_id for ex in examples], dtype=np.int64),
        images=[ex.image for ex in examples],
        captions=[list(ex.captions) for ex in examples],
        metadata=[ex.metadata for ex in examples] if has_metadata else None)


_LAST_PREPARED: Dict[str, PreparedData] = {}


def prepare(config, workdir: str) -> PreparedData:
    """Reads, validates and tokenises the configured dataset; reuses the workdir's tokenizer.

    The result is kept for the process's next call with the same workdir and data settings, so
    `--mode=all` prepares once for all its stages (callers must not modify it).
    """
    key = json.dumps([os.path.abspath(workdir), config.seed, config.data.to_dict(),
                      config.tokenizer.to_dict()], sort_keys=True, default=str)
    if key not in _LAST_PREPARED:
        _LAST_PREPARED.clear()
        _LAST_PREPARED[key] = _prepare(config, workdir)
    return _LAST_PREPARED[key]


def _prepare(config, workdir: str) -> PreparedData:
    skips = {split: example_lib.SkipCounter() for split in SPLITS}
    parse_skips = example_lib.SkipCounter()
    logging.info("reading %s", config.data.source)
    raw = read_source(config, workdir, parse_skips)
    logging.info("validating %d images (each decoded once; unchanged files are cached)",
                 sum(len(examples) for examples in raw.values()))
    cache = validate.ImageCheckCache(os.path.join(workdir, "data", "image_checks.json"))
    splits = {name: _to_split(name, validate.clean_examples(
                  raw[name], config.data.max_caption_words, skips[name], cache))
              for name in SPLITS}
    if not splits["train"].num_images:
        raise ValueError("no usable training examples after validation: "
                         f"skipped {skips['train'].as_dict()}")
    if config.data.corrupt_fraction:
        train = splits["train"]
        train.captions, corrupted = corruption.corrupt_captions(
            train.captions, config.data.corrupt_fraction, config.data.corrupt_seed)
        corruption.write_indices(workdir, corrupted)
        logging.info("corrupted %d of %d train captions (words shuffled)", len(corrupted),
                     len(train.flat_captions))
    tok = tokenizer_lib.get_or_create(
        os.path.join(workdir, "tokenizer"), config.tokenizer.source,
        splits["train"].flat_captions, config.tokenizer.vocab_size, config.tokenizer.min_frequency)
    logging.info("tokenizer: %s, vocabulary %d", tok.source, tok.vocabulary_size)
    for split in splits.values():
        split.caption_tokens = tok.encode(split.flat_captions)
    summary = summarize(config, splits, tok, skips, parse_skips)
    os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
    with open(os.path.join(workdir, "data", "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return PreparedData(splits, tok, summary)


def summarize(config, splits: Dict[str, corpus.Split], tok: tokenizer_lib.CaptionTokenizer,
              skips: Dict[str, example_lib.SkipCounter],
              parse_skips: example_lib.SkipCounter) -> dict:
    """Counts, vocabulary size, caption length percentiles and skipped items by reason."""
    max_tokens = config.data.max_caption_tokens
    summary = {"source": config.data.source, "tokenizer": tok.source,
               "vocabulary_size": tok.vocabulary_size, "max_caption_tokens": max_tokens,
               "splits": {}, "skipped_while_reading": parse_skips.as_dict()}
    for name, split in splits.items():
        token_lengths = np.array([len(t) + 2 for t in split.caption_tokens] or [0])
        word_lengths = np.array([len(c.split()) for c in split.flat_captions] or [0])
        summary["splits"][name] = {
            "images": split.num_images,
            "captions": len(split.flat_captions),
            "caption_words_p50_p90_p99_max": _percentiles(word_lengths),
            "caption_tokens_p50_p90_p99_max": _percentiles(token_lengths),
            "captions_cut_to_max_tokens": int((token_lengths > max_tokens).sum()),
            "skipped": skips[name].as_dict(),
            "skipped_total": skips[name].total(),
        }
    return summary


def _percentiles(values: np.ndarray) -> list:
    return [int(np.percentile(values, q)) for q in (50, 90, 99)] + [int(values.max())]


def run_mode(config, workdir: str) -> PreparedData:
    """`--mode=data`: prepares the data and prints the summary."""
    prepared = prepare(config, workdir)
    print(format_summary(prepared.summary))
    print(f"summary written to {os.path.join(workdir, 'data', 'summary.json')}")
    return prepared


def format_summary(summary: dict) -> str:
    """A short human-readable view of `summarize`'s output."""
    lines = [f"source: {summary['source']}   tokenizer: {summary['tokenizer']} "
             f"(vocabulary {summary['vocabulary_size']})"]
    for name, split in summary["splits"].items():
        lines.append(f"{name:>10}: {split['images']} images, {split['captions']} captions, "
                     f"words p50/p90/p99/max {split['caption_words_p50_p90_p99_max']}, "
                     f"tokens {split['caption_tokens_p50_p90_p99_max']}, "
                     f"skipped {split['skipped_total']}")
        for reason, info in split["skipped"].items():
            lines.append(f"{'':>12}skipped {info['count']} x {reason}, e.g. {info['examples'][:2]}")
    for reason, info in summary["skipped_while_reading"].items():
        lines.append(f"  skipped while reading: {info['count']} x {reason}, "
                     f"e.g. {info['examples'][:2]}")
    return "\n".join(lines)
