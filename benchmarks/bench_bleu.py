"""Time and agreement of corpus BLEU-1..4 on COCO val2017, caption 1 of each of the 5,000 images
against its other captions: ours (Python PTB tokenizer + BLEU), pycocoevalcap (Java PTBTokenizer +
Bleu(4)) and nltk (TreebankWordTokenizer, the toolkit's punctuation removal, corpus_bleu).

  python benchmarks/bench_bleu.py [--repeats=3] [--out=benchmarks/results/bench_bleu.json]

Each figure is the best of `--repeats` runs, tokenisation included. pycocoevalcap needs Java.
"""

import collections
import json
import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.evaluation import bleu  # noqa: E402
from caption_aug.evaluation import ptb_tokenizer  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
_DEFAULT_ANNOTATIONS = os.path.join(_REPO, "..", "shared", "data", "coco2017-val-sample",
                                    "captions_val2017.json")
_ANNOTATIONS = flags.DEFINE_string("annotations", _DEFAULT_ANNOTATIONS, "COCO captions JSON.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs per implementation; the best counts.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_bleu.json", "JSON output.")


def load_split(path):
    """({image: caption 1}, {image: other captions}) in the annotation file's image order."""
    with open(path) as f:
        data = json.load(f)
    by_image = collections.defaultdict(list)
    for annotation in data["annotations"]:
        by_image[annotation["image_id"]].append(annotation["caption"])
    image_ids = [image["id"] for image in data["images"]]
    return ({i: by_image[i][0] for i in image_ids}, {i: by_image[i][1:] for i in image_ids})


def ours(hypotheses, references):
    """Our tokenizer and BLEU, timed apart: (scores, tokenise seconds, BLEU seconds)."""
    start = time.perf_counter()
    hyp_tokens = ptb_tokenizer.tokenize(hypotheses.values())
    ref_tokens = ptb_tokenizer.tokenize_groups(references[i] for i in hypotheses)
    middle = time.perf_counter()
    scores = bleu.bleu_from_tokens(hyp_tokens, ref_tokens)
    return scores, middle - start, time.perf_counter() - middle


def pycocoevalcap(hypotheses, references):
    """The toolkit's Java PTBTokenizer and Bleu(4): (scores, tokenise seconds, BLEU seconds)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    start = time.perf_counter()
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": c} for c in references[i]] for i in hypotheses})
    res = tokenizer.tokenize({i: [{"caption": c}] for i, c in hypotheses.items()})
    middle = time.perf_counter()
    scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return scores, middle - start, time.perf_counter() - middle


def nltk(hypotheses, references):
    """nltk's Treebank tokenizer, the toolkit's punctuation removal and corpus_bleu."""
    from nltk.tokenize import TreebankWordTokenizer
    from nltk.translate.bleu_score import corpus_bleu
    tokenizer = TreebankWordTokenizer()

    def tokens(caption):
        words = tokenizer.tokenize(caption.lower())
        return [t for t in words if t not in ptb_tokenizer.PUNCTUATIONS]

    start = time.perf_counter()
    hyps = [tokens(c) for c in hypotheses.values()]
    refs = [[tokens(c) for c in references[i]] for i in hypotheses]
    middle = time.perf_counter()
    weights = [(1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]
    scores = corpus_bleu(refs, hyps, weights=weights)
    return scores, middle - start, time.perf_counter() - middle


def best_of(implementation, hypotheses, references, repeats):
    """The fastest of `repeats` runs, as a JSON-ready dict."""
    runs = [implementation(hypotheses, references) for _ in range(repeats)]
    scores, tokenize_s, bleu_s = min(runs, key=lambda run: run[1] + run[2])
    return {"seconds": round(tokenize_s + bleu_s, 3), "tokenize_s": round(tokenize_s, 3),
            "bleu_s": round(bleu_s, 3), "scores": [round(float(s), 6) for s in scores]}


def main(_):
    hypotheses, references = load_split(_ANNOTATIONS.value)
    results = {"images": len(hypotheses), "repeats": _REPEATS.value, "cpu_count": os.cpu_count()}
    for name, implementation in [("ours", ours), ("pycocoevalcap", pycocoevalcap), ("nltk", nltk)]:
        results[name] = best_of(implementation, hypotheses, references, _REPEATS.value)
        print(f"{name:14s} {results[name]['seconds']:7.3f} s  (tokenise "
              f"{results[name]['tokenize_s']:.3f} s, BLEU {results[name]['bleu_s']:.3f} s)  "
              f"BLEU-1..4 {results[name]['scores']}", flush=True)
    for name in ("pycocoevalcap", "nltk"):
        speedup = results[name]["seconds"] / results["ours"]["seconds"]
        difference = max(abs(theirs - mine) for theirs, mine
                         in zip(results[name]["scores"], results["ours"]["scores"]))
        results[f"speedup_vs_{name}"] = round(speedup, 1)
        results[f"max_bleu_difference_vs_{name}"] = round(difference, 6)
        print(f"ours is {speedup:.1f}x faster than {name}; "
              f"largest BLEU difference {difference:.2g}")
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
