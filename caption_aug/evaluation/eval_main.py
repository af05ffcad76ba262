"""`caption_aug_eval`: scores a COCO results file against a COCO captions file, as the toolkit does.

  caption_aug_eval --annotations=captions_val2017.json --results=results.json [--coco_eval]

Prints one JSON line: BLEU-1..4 always (our Java-free copy of pycocoevalcap's numbers), plus
METEOR, ROUGE_L and CIDEr from pycocoevalcap itself with `--coco_eval`. That is an explicit flag,
not switched on by whether Java happens to be installed, so the same command prints the same keys
on every machine; asked for without pycocoevalcap or Java, it fails with a message.

Scored images are those of the results file (the toolkit's `params['image_id'] =
cocoRes.getImgIds()`). As in the toolkit, every result image must be in the annotations and have
exactly one caption: the toolkit's `loadRes` rejects unknown ids and its scorers assert one
hypothesis per image, so duplicate image ids are an error here too, named in one line.
"""

import collections
import json
import os
import re
import shutil
import sys

from absl import app
from absl import flags
from absl import logging

from caption_aug.evaluation import bleu
from caption_aug.text import text_io

_ANNOTATIONS = flags.DEFINE_string("annotations", None, "COCO captions JSON (images, annotations).")
_RESULTS = flags.DEFINE_string("results", None,
                               'COCO results JSON: [{"image_id": .., "caption": ..}].')
_COCO_EVAL = flags.DEFINE_bool("coco_eval", False,
                               "Also report METEOR, ROUGE_L and CIDEr via pycocoevalcap (Java).")


_LINE_BREAKS = re.compile("[\r\n\u2028\u2029\x0b\x0c\x85]")


class EvalError(ValueError):
    """A problem with the inputs, reported as one line without a traceback."""


def _clean(text):
    """A caption safe for the toolkit, with the same tokens.

    Bytes that were not UTF-8 (kept as surrogate escapes) become U+FFFD, which PTB drops; line
    breaks become spaces, as Java would otherwise split the caption and misalign every line after.
    """
    text = text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return _LINE_BREAKS.sub(" ", text)


def _load_json(path, what):
    """The parsed JSON of a file, read tolerant of non-UTF-8 bytes."""
    if not os.path.isfile(path):
        raise EvalError(f"{what} file not found: {path}")
    try:
        return json.loads(text_io.read_text(path))
    except json.JSONDecodeError as e:
        raise EvalError(f"{what} file {path} is not valid JSON: {e}") from None


def _caption_of(entry, path, index):
    """(image_id, caption) of one annotation or result object, or an error naming it."""
    if not isinstance(entry, dict) or "image_id" not in entry or "caption" not in entry:
        raise EvalError(f"{path}: entry {index} is not an object with image_id and caption")
    if not isinstance(entry["image_id"], (int, str)):
        raise EvalError(f"{path}: entry {index} has an image_id that is neither a number nor text")
    if not isinstance(entry["caption"], str):
        raise EvalError(f"{path}: entry {index} (image {entry['image_id']}) has a non-text caption")
    return entry["image_id"], _clean(entry["caption"])


def load_references(path):
    """{image_id: [captions]} of a COCO captions file, images in the toolkit's order."""
    data = _load_json(path, "annotations")
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise EvalError(f"{path}: not a COCO captions file (no 'annotations' list)")
    grouped = collections.defaultdict(list)
    for index, entry in enumerate(data["annotations"]):
        image_id, caption = _caption_of(entry, path, index)
        grouped[image_id].append(caption)
    images = data.get("images") if isinstance(data.get("images"), list) else []
    order = list(dict.fromkeys(image["id"] for image in images if isinstance(image, dict)
                               and isinstance(image.get("id"), (int, str))
                               and image["id"] in grouped))
    listed = set(order)
    order += [image_id for image_id in grouped if image_id not in listed]
    return {image_id: grouped[image_id] for image_id in order}


def load_results(path, references):
    """{image_id: caption} of a COCO results file, checked the way the toolkit checks it."""
    data = _load_json(path, "results")
    if not isinstance(data, list):
        raise EvalError(f"{path}: a results file is a JSON list of objects with image_id "
                        "and caption")
    if not data:
        raise EvalError(f"{path}: the results file holds no captions")
    results = {}
    for index, entry in enumerate(data):
        image_id, caption = _caption_of(entry, path, index)
        if image_id in results:
            raise EvalError(f"{path}: image {image_id} has more than one caption; COCO scores "
                            "exactly one caption per image")
        results[image_id] = caption
    unknown = [image_id for image_id in results if image_id not in references]
    if unknown:
        raise EvalError(f"{path}: {len(unknown)} result image ids are not in the annotations, "
                        f"e.g. {unknown[0]}")
    return results


def coco_metrics(results, references):
    """METEOR, ROUGE_L and CIDEr from pycocoevalcap, on its own (Java) tokenisation."""
    try:
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.rouge.rouge import Rouge
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    except ImportError:
        raise EvalError("--coco_eval needs pycocoevalcap: "
                        "pip install 'caption_aug[coco-eval]'") from None
    if shutil.which("java") is None:
        raise EvalError("--coco_eval needs java on PATH "
                        "(pycocoevalcap tokenises and runs METEOR in Java)")
    image_ids = [image_id for image_id in references if image_id in results]
    try:
        tokenizer = PTBTokenizer()
        gts = tokenizer.tokenize({i: [{"caption": c} for c in references[i]] for i in image_ids})
        res = tokenizer.tokenize({i: [{"caption": results[i]}] for i in image_ids})
        meteor = Meteor()
        scores = {"METEOR": meteor.compute_score(gts, res)[0]}
        del meteor  # its __del__ stops the METEOR Java process now, not at exit
        scores["ROUGE_L"] = Rouge().compute_score(gts, res)[0]
        scores["CIDEr"] = Cider().compute_score(gts, res)[0]
    except (OSError, ValueError, AssertionError) as e:  # e.g. Java failing to start METEOR
        raise EvalError(f"pycocoevalcap failed: {type(e).__name__}: {e}") from None
    return {name: float(score) for name, score in scores.items()}


def evaluate(annotations_path, results_path, coco_eval=False):
    """The metrics dict that the command prints."""
    references = load_references(annotations_path)
    results = load_results(results_path, references)
    logging.info("scoring %d images (%d annotated images have no result)",
                 len(results), len(references) - len(results))
    scores = bleu.corpus_bleu(results, references)
    if coco_eval:
        scores.update(coco_metrics(results, references))
    return scores


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        scores = evaluate(_ANNOTATIONS.value, _RESULTS.value, _COCO_EVAL.value)
    except EvalError as e:
        print(f"caption_aug_eval: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(scores))
    return 0


def run():
    """Console-script entry point (setup.py: caption_aug_eval)."""
    flags.mark_flags_as_required(["annotations", "results"])
    app.run(main)


if __name__ == "__main__":
    run()
