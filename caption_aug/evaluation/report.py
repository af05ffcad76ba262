"""WORKDIR/report.md: the `--mode=all` metrics of every stage as tables, with the run's figures.

Written from metrics.json alone (plus the figure files the stages leave in the workdir), so it can
be regenerated at any time; a phase that has not run is reported as missing, not guessed.
"""

import glob
import os

_MISSING = "_not run_"


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _f(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else str(value)


def _figure(workdir: str, pattern: str, caption: str) -> str:
    """A markdown image of the newest file matching `pattern` under the workdir, if any."""
    found = sorted(glob.glob(os.path.join(workdir, pattern)))
    return f"![{caption}]({os.path.relpath(found[-1], workdir)})\n" if found else ""


def _figure_with_captions(workdir: str, pattern: str, caption: str) -> str:
    """`_figure`, followed by the captions its rows were drawn for (the .txt beside the PNG)."""
    found = sorted(glob.glob(os.path.join(workdir, pattern)))
    if not found:
        return ""
    captions = os.path.splitext(found[-1])[0] + ".txt"
    rows = open(captions).read() if os.path.isfile(captions) else ""
    listed = "\nRows, top to bottom:\n\n" + rows if rows else ""
    return _figure(workdir, pattern, caption) + listed


def _data(m: dict) -> str:
    rows = [[split, v["images"], v["captions"], v["skipped_total"]]
            for split, v in m["splits"].items()]
    return (f"Source `{m['source']}`, tokenizer {m['tokenizer']} (vocabulary "
            f"{m['vocabulary_size']}).\n\n"
            + _table(["split", "images", "captions", "skipped"], rows))


def _encoder(m: dict) -> str:
    rows = [[f"{d.replace('_', ' ')} R@{k}", _f(m.get(f"{d}_r{k}")),
             _f(m.get(f"chance_{d}_r{k}"))]
            for d in ("image_to_text", "text_to_image") for k in (1, 5)]
    return _table(["validation retrieval", "recall", "chance"], rows)


def _lm(m: dict) -> str:
    keys = ["validation_perplexity", "distinct_1", "distinct_2", "novelty", "self_bleu_4",
            "valid_scene_fraction", "generation_captions_per_second"]
    rows = [[k, _f(m[k])] for k in keys if k in m]
    examples = m.get("examples", [])[:6]
    text = _table(["caption LM", "value"], rows)
    if examples:
        text += "\n\n" + _table(["prompt", "generated", "real"],
                                [[e["prompt"], e["generated"], e["real"]] for e in examples])
    return text


def _gan(m: dict, workdir: str) -> str:
    accuracy = m.get("conditional_accuracy")
    text = ""
    if accuracy:
        rows = []
        for name in ("colour", "shape", "all_stated", "objects"):
            v = accuracy.get(name)
            if v is None:
                continue
            ceiling = v.get("ceiling", "")
            readable = {True: "", False: " (not readable at this size: ignore)"}.get(
                v.get("readable"), "")
            rows.append([name, _f(v["accuracy"]), _f(v["chance"]), _f(ceiling) + readable])
        text += _table(["attribute", "generated accuracy", "chance", "ceiling (real images)"],
                       rows)
        text += ("\n\ncolour, shape: single-object captions; all_stated: both at once; objects: "
                 "share of every caption's described objects found in its generated image "
                 "(chance: real images under shuffled captions).")
        diversity = accuracy.get("diversity")
        if diversity:
            text += (f"\n\nDiversity across noise (mean pairwise RMS distance of images for one "
                     f"caption): generated {_f(diversity['generated'])}, real images of one "
                     f"(colour, shape) {_f(diversity['real'])}, ratio {_f(diversity['ratio'])}.")
    else:
        text += "conditional attribute accuracy not measured (no scene metadata)"
    architecture = m.get("architecture", {}).get("architecture")
    if architecture:
        text += f"\n\nDerived discriminator architecture after warm-up: `{architecture}`"
    text += "\n\nAfter warm-up, validation captions:\n\n" + _figure_with_captions(
        workdir, "gan/samples/samples_*.png", "real image, then generated images for its caption")
    synthesized = _figure_with_captions(workdir, "synthetic/real_vs_generated.png",
                                        "real image, then generated images for its caption")
    if synthesized:
        text += "\n`--mode=synthesize` (the models it drew from), test captions:\n\n" + synthesized
    return text


_CAPTIONER_FIGURES = [(f"BLEU-{n}", lambda s, n=n: s.get(f"Bleu_{n}")) for n in range(1, 5)] + [
    ("all claims true", lambda s: s.get("semantic", {}).get("all_true")),
    ("claim precision", lambda s: s.get("semantic", {}).get("precision")),
    ("all objects named", lambda s: s.get("semantic", {}).get("all_mentioned")),
    ("an object named twice", lambda s: s.get("semantic", {}).get("repeated_object"))]


def _difference(a, b) -> str:
    return f"{a - b:+.4f}" if isinstance(a, float) and isinstance(b, float) else ""


def _captioner(before: dict, control: dict, after: dict) -> str:
    """Per beam and figure: before the joint phase, the real-only control arm and the joint
    captioner (the last two after the same number of updates), with the differences."""
    beams = {}
    for m in (before, control, after):
        beams.update(dict.fromkeys((m or {}).get("beam_sizes", {})))
    rows = []
    for beam in beams:
        scores = [(m or {}).get("beam_sizes", {}).get(beam, {}) for m in (before, control, after)]
        for name, read in _CAPTIONER_FIGURES:
            values = [read(s) for s in scores]
            if all(v is None for v in values):
                continue
            rows.append([beam, name] + [_f(v, 4) if v is not None else _MISSING for v in values]
                        + [_difference(values[2], values[1]), _difference(values[2], values[0])])
    if not rows:
        return _MISSING
    return _table(["beam", "test figure", "before joint", "control (real only)", "after joint",
                   "after - control", "after - before"], rows)


def _joint(m: dict, seconds: dict, workdir: str) -> str:
    weights = m["caption_weights"]
    text = _table(["caption weights a = sigmoid(A)", "value"],
                  [[k, _f(weights[k], 4)] for k in ("mean", "std", "min", "max",
                                                    "fraction_below_half")])
    for end in ("highest", "lowest"):
        text += f"\n\n{end.capitalize()} weighted training captions:\n\n" + _table(
            ["a", "caption"], [[_f(r["weight"], 4), r["caption"]] for r in weights[end][:6]])
    derived = m["architecture"]["derived"].get("architecture")
    text += f"\n\nDerived discriminator architecture after the joint phase: `{derived}`"
    synthetic = m.get("synthetic_captions")
    if synthetic:
        valid = synthetic.get("valid_scene_fraction")
        text += (f"\n\nSynthetic captions of the joint phase ({synthetic.get('captions')} drawn): "
                 + (f"valid scenes {_f(valid)}, " if valid is not None else "")
                 + f"distinct-2 {_f(synthetic['distinct_2'])}, "
                 f"self-BLEU-4 {_f(synthetic['self_bleu_4'])}.")
    timing = m.get("seconds_per_iteration_this_run", {})
    if timing:
        text += "\n\n" + _table(["joint iteration", "median seconds"],
                                [[k.replace("_", " "), _f(v, 2)] for k, v in timing.items()])
    text += f"\n\nSettings: `{m.get('settings')}`; {m['iterations']} iterations, " \
            f"{_f(seconds.get('joint', 0.0), 0)} s.\n\n"
    return (text + _figure(workdir, "joint/caption_weights.png", "distribution of a")
            + _figure(workdir, "joint/arch_weights.png", "softmax(B), edges x ops"))


def write_report(workdir: str, metrics: dict) -> str:
    """Writes WORKDIR/report.md from `metrics` ({"phases": {...}, "seconds": {...}})."""
    phases, seconds = metrics.get("phases", {}), metrics.get("seconds", {})
    sections = [("Data", _data, "data"),
                ("Sentence encoder", _encoder, "encoder"),
                ("Caption LM (stage 1)", _lm, "lm"),
                ("Stage2GAN (stage 2)", lambda m: _gan(m, workdir), "gan"),
                ("Joint phase (stage 4)", lambda m: _joint(m, seconds, workdir), "joint")]
    parts = ["# caption_aug run report", ""]
    for title, render, key in sections:
        parts += [f"## {title}", "", render(phases[key]) if key in phases else _MISSING, ""]
    parts += ["## Captioner (stage 3), test split", "",
              "The control arm starts from the same warm-up checkpoint and takes as many "
              "captioner updates as the joint phase (on the same real batches, no synthetic "
              "pairs): the difference after - control is what the synthetic pairs did.", "",
              _captioner(phases.get("captioner_before_joint"), phases.get("captioner_control"),
                         phases.get("captioner_after_joint")), "",
              _figure(workdir, "evaluation/captioner_after_joint/attention_maps.png",
                      "attention of the joint captioner"), ""]
    parts += ["## Time per phase", "",
              _table(["phase", "seconds"], [[k, _f(v, 1)] for k, v in seconds.items()]), ""]
    if "export" in phases:
        parts += [f"Exported captioner: `{phases['export']['path']}` (beam "
                  f"{phases['export']['beam_size']}).", ""]
    path = os.path.join(workdir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(parts))
    return path
