"""The study's report: WORKDIR/report.md and its PNG figures under WORKDIR/figures/, from
study.json and the runs' workdirs.

Every arm is compared with the control of its own setting and seed (same warm-up, same real
batches, same number of captioner updates): the mean of the paired differences over seeds with a
95% Student-t interval. With 3 seeds that interval is wide (t = 4.30); "no clear difference" is
what an interval containing 0 says, not that the arms are equal.
"""

import json
import os
import shutil

import numpy as np

from caption_aug.training.joint import caption_sampler
from caption_aug.training.joint import trainer as joint_trainer
from caption_aug.workdir import summaries

FIGURES = "figures"
REPORT_MD = "report.md"
# Student-t 0.975 quantiles by degrees of freedom (numpy has none; the project does not depend
# on scipy for one table).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}
METRICS = (("BLEU-1", ("Bleu_1",)), ("BLEU-2", ("Bleu_2",)), ("BLEU-3", ("Bleu_3",)),
           ("BLEU-4", ("Bleu_4",)), ("all true", ("semantic", "all_true")),
           ("claim precision", ("semantic", "precision")))
PAIRED = ("BLEU-4", "all true", "claim precision")


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t, from the table (rounded down to a listed df: wider)."""
    return T_975[max(k for k in T_975 if k <= df)]


def paired_interval(differences) -> tuple:
    """(mean, half-width of the 95% t interval) of paired differences; half-width nan for one."""
    d = np.asarray(differences, dtype=np.float64)
    if len(d) < 2:
        return float(d.mean()), float("nan")
    return float(d.mean()), t_quantile(len(d) - 1) * float(d.std(ddof=1)) / np.sqrt(len(d))


def verdict(mean: float, half_width: float) -> str:
    """The reading of a paired interval. Every seed giving the same difference (a few images of
    a quantised share, say) leaves the t interval no width: that is no evidence of an effect."""
    if not np.isfinite(half_width):
        return "one seed: no interval"
    if half_width < 1e-9:
        return "the same in every seed: no spread, no test"
    if mean - half_width > 0:
        return "higher than the control"
    if mean + half_width < 0:
        return "lower than the control"
    return "no clear difference"


def report_beam(setting: dict) -> str:
    """Beam 3 (the paper's figures) when evaluated, else the largest beam."""
    first = next(iter(setting["seeds"].values()))
    beams = [int(b) for b in first["warmup"]["test"]["beam_sizes"]]
    return str(3 if 3 in beams else max(beams))


def metric(test: dict, beam: str, path) -> float:
    value = test["beam_sizes"][beam]
    for key in path:
        value = value[key]
    return float(value)


def _by_seed(setting: dict, arm: str, beam: str, path) -> dict:
    return {seed: metric(run["arms"][arm]["test"], beam, path)
            for seed, run in setting["seeds"].items() if arm in run["arms"]}


def _mean_std(values) -> str:
    values = np.asarray(list(values), dtype=np.float64)
    if not len(values):
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f} (one seed)"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _table(header, rows) -> list:
    return summaries.markdown_table(header, rows).splitlines() + [""]


def _mean_seconds(records) -> str:
    seconds = [record["seconds"] for record in records]
    return f"{np.mean(seconds):.0f}" if seconds else "-"


def arm_table(setting: dict) -> list:
    """Mean ± std over seeds per arm (and the warm-up captioner) at the report beam, with each
    one's mean seconds of work (the warm-up's stages; an arm's own joint phase and evaluation)."""
    beam = report_beam(setting)
    runs = list(setting["seeds"].values())
    rows = [["warm-up (before the joint phase)"] + [
        _mean_std(metric(run["warmup"]["test"], beam, path) for run in runs)
        for _, path in METRICS] + [_mean_seconds(run["warmup"] for run in runs)]]
    for arm in setting["arms"]:
        rows.append([arm] + [_mean_std(_by_seed(setting, arm, beam, path).values())
                             for _, path in METRICS]
                    + [_mean_seconds(run["arms"][arm] for run in runs if arm in run["arms"])])
    return _table(["arm"] + [name for name, _ in METRICS] + ["seconds"], rows)


def comparisons(study: dict) -> list:
    """Each arm against its setting's control: paired by seed, per metric of PAIRED."""
    out = []
    for name, setting in study["settings"].items():
        beam = report_beam(setting)
        for arm in setting["arms"]:
            if arm == "control":
                continue
            for label, path in METRICS:
                if label not in PAIRED:
                    continue
                arm_values = _by_seed(setting, arm, beam, path)
                control = _by_seed(setting, "control", beam, path)
                seeds = sorted(set(arm_values) & set(control))
                if not seeds:
                    continue
                mean, half = paired_interval([arm_values[s] - control[s] for s in seeds])
                out.append({"setting": name, "arm": arm, "metric": label, "beam": int(beam),
                            "seeds": len(seeds), "difference": mean, "half_width": half,
                            "verdict": verdict(mean, half)})
    return out


def comparison_table(rows) -> list:
    return _table(["setting", "arm", "metric", "arm - control (95% interval)", "seeds", "reading"],
                  [[r["setting"], r["arm"], r["metric"],
                    f"{r['difference']:+.3f}" + (f" ± {r['half_width']:.3f}"
                                                 if np.isfinite(r["half_width"]) else ""),
                    r["seeds"], r["verdict"]] for r in rows])


def novelty_table(setting: dict) -> list:
    """All-true on test scenes showing a held-out combination against the others, per arm."""
    beam = report_beam(setting)
    rows = []
    for arm in setting["arms"]:
        cells = [arm]
        for group in ("novel", "seen"):
            values = _by_seed(setting, arm, beam, ("semantic", "by_novelty", group, "all_true"))
            cells.append(_mean_std(values.values()))
        rows.append(cells)
    return _table(["arm", "all true, novel scenes", "all true, seen scenes"], rows)


def corruption_table(setting: dict) -> list:
    """The full arm's AUC of a_i over the corrupted captions, per seed and over seeds."""
    reports = {seed: run["arms"]["full"]["joint"]["corrupted_captions"]
               for seed, run in sorted(setting["seeds"].items())}
    rows = [[seed, f"{r['auc']:.3f}", f"{r['auc_moved']:.3f}" if "auc_moved" in r else "-",
             f"{r['moved']} of {r['clean'] + r['corrupted']}", f"{r['mean_weight_clean']:.4f}",
             f"{r['mean_weight_corrupted']:.4f}"] for seed, r in reports.items()]
    rows.append(["mean ± std", _mean_std(r["auc"] for r in reports.values()), "", "", "", ""])
    return _table(["seed", "AUC of a_i (all captions; chance 0.5)",
                   "AUC (captions whose a_i moved)",
                   "a_i moved", "mean a_i, clean", "mean a_i, corrupted"], rows)


def beam_table(setting: dict) -> list:
    """BLEU-4 and all-true by beam size for the control and the full arm (the paper's Table 2)."""
    first = next(iter(setting["seeds"].values()))
    beams = list(first["warmup"]["test"]["beam_sizes"])
    rows = []
    for arm in ("control", "full"):
        for beam in beams:
            rows.append([arm, beam] + [_mean_std(_by_seed(setting, arm, beam, path).values())
                                       for label, path in METRICS
                                       if label in ("BLEU-4", "all true")])
    return _table(["arm", "beam", "BLEU-4", "all true"], rows)


def architecture_rows(setting: dict) -> list:
    """Per seed, the full arm's derived discriminator (each edge's strongest op) beside how far
    softmax(B) has moved from uniform: a derived op whose weight barely leads is noise."""
    rows = []
    for seed, run in sorted(setting["seeds"].items()):
        architecture = run["arms"]["full"]["joint"]["architecture"]
        derived = architecture["derived"]
        softmax = np.asarray(architecture["softmax"], dtype=np.float64)
        uniform = 1.0 / softmax.shape[-1]
        rows.append([seed, json.dumps(derived.get("architecture", derived)),
                     f"{softmax.max():.4f} (uniform {uniform:.4f})",
                     f"{np.abs(softmax - uniform).max():.4f}"])
    return _table(["seed", "derived discriminator (full arm, after the joint phase)",
                   "largest softmax(B) weight", "largest distance of softmax(B) from uniform"],
                  rows)


def weight_extremes(setting: dict, rows: int = 5) -> list:
    """The full arm's (first seed's) spread of a_i, and its highest and lowest captions."""
    run = next(iter(setting["seeds"].values()))
    weights = run["arms"]["full"]["joint"]["caption_weights"]
    out = []
    for end in ("highest", "lowest"):
        out += [[end, f"{r['weight']:.4f}", r["caption"]] for r in weights[end][:rows]]
    spread = (f"a_i after the joint phase: mean {weights['mean']:.4f}, std {weights['std']:.4f}, "
              f"from {weights['min']:.4f} to {weights['max']:.4f}.")
    return [spread, ""] + _table(["end", "a_i", "training caption"], out)


def synthetic_examples(run_dir: str, count: int = 8) -> list:
    """The first synthetic captions the full arm's joint phase drew (its first draw)."""
    draws = caption_sampler.read_log(
        os.path.join(run_dir, joint_trainer.STAGE, joint_trainer.SYNTHETIC_CAPTIONS))
    if not draws:
        return []
    return [f"- {caption}" for caption in next(iter(draws.values()))[:count]] + [""]


def _copy_figure(source: str, figures_dir: str, name: str) -> str:
    """Copies a run's PNG into the report's figures; the markdown line, or "" when absent."""
    if not os.path.isfile(source):
        return ""
    shutil.copyfile(source, os.path.join(figures_dir, name))
    return f"![{name}]({FIGURES}/{name})"


def _latest_png(directory: str, prefix: str) -> str:
    if not os.path.isdir(directory):
        return ""
    names = sorted(n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".png"))
    return os.path.join(directory, names[-1]) if names else ""


def difference_figure(rows, path: str) -> None:
    """Arm - control with its 95% interval, one panel per paired metric."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, len(PAIRED), figsize=(5 * len(PAIRED), 0.35 * len(rows) + 2))
    for axis, label in zip(np.atleast_1d(axes), PAIRED):
        chosen = [r for r in rows if r["metric"] == label]
        names = [f"{r['setting']}: {r['arm']}" for r in chosen]
        axis.errorbar([r["difference"] for r in chosen], range(len(chosen)),
                      xerr=[np.nan_to_num(r["half_width"]) for r in chosen], fmt="o", capsize=3)
        axis.axvline(0.0, color="grey", linewidth=1)
        axis.set_yticks(range(len(chosen)))
        axis.set_yticklabels(names if axis is np.atleast_1d(axes)[0] else [])
        axis.invert_yaxis()
        axis.set_title(f"{label}: arm - control")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def validation_curve_figure(setting: dict, path: str) -> bool:
    """L_val(W') of the hypergradient over the joint iterations, per arm, mean over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for arm in setting["arms"]:
        curves = [run["arms"][arm].get("joint", {}).get("validation_loss_by_iteration")
                  for run in setting["seeds"].values() if arm in run["arms"]]
        curves = [np.asarray(c) for c in curves if c]
        if not curves or len({len(c) for c in curves}) != 1:
            continue
        stacked = np.stack(curves)
        axis.plot(stacked[0, :, 0], stacked[:, :, 1].mean(axis=0), label=arm)
        drawn = True
    axis.set_xlabel("joint iteration")
    axis.set_ylabel("validation loss at W'")
    if drawn:
        axis.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(path, dpi=80)
    plt.close(figure)
    return drawn


def stage_lengths(workdir: str) -> list:
    """One line on how long the stages ran, from WORKDIR/config.json (none without one): numbers
    from studies of other lengths do not compare."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        config = json.load(f)
    captioner, study = config["captioner"], config["study"]
    return [f"Stages: captioner {captioner['epochs']} epochs at learning rate "
            f"{captioner['decoder_lr']:g} after {captioner['pretrain_steps']} + "
            f"{captioner['pretrain_object_steps']} encoder pretraining steps, continued at "
            f"{config['joint'].get('captioner_lr') or captioner['decoder_lr']:g} in the joint "
            f"phase and the control; LM "
            f"{config['lm']['epochs']} epochs; GAN {config['gan']['iterations']} iterations; joint "
            f"phase {config['joint']['iterations']} iterations (corrupted setting: "
            f"{study['corrupted_joint_iterations']}); {config['data']['caption_shapes']['test_size']}"
            " test images (`config.json`).", ""]


def write_report(workdir: str, study: dict) -> str:
    """WORKDIR/report.md and WORKDIR/figures/*.png; returns the report's path."""
    figures_dir = os.path.join(workdir, FIGURES)
    os.makedirs(figures_dir, exist_ok=True)
    rows = comparisons(study)
    lines = ["# The study: when does learned synthetic data help the captioner?", "",
             "Written by `python train_main.py --mode=study` (`caption_aug/study`). Every arm of "
             "a setting starts from the same warmed-up stages of its seed and gives the captioner "
             "the same number of updates on the same real batches; figures are test-split means ± "
             "standard deviations over seeds.", ""] + stage_lengths(workdir)
    difference_figure(rows, os.path.join(figures_dir, "differences.png"))
    lines += ["## Every arm against the control (paired by seed)", "",
              "![differences](figures/differences.png)", ""] + comparison_table(rows)
    for name, setting in study["settings"].items():
        seeds = sorted(setting["seeds"])
        lines += [f"## Setting `{name}`", "",
                  f"{setting['train_size']} train images"
                  + (f", holdout `{setting['holdout']}`" if setting["holdout"] else "")
                  + (f", {setting['corrupt_fraction']:.0%} of train captions word-shuffled"
                     if setting["corrupt_fraction"] else "")
                  + f"; seeds {', '.join(seeds)}; beam {report_beam(setting)}.", ""]
        lines += [f"Seed {seed} has not run its arms {', '.join(run['pending_arms'])} yet: they "
                  "have one seed fewer." for seed, run in sorted(setting["seeds"].items())
                  if run.get("pending_arms")] + [""]
        lines += arm_table(setting)
        if setting["holdout"]:
            lines += ["Test scenes showing a held-out combination against the others:", ""]
            lines += novelty_table(setting)
        if setting["corrupt_fraction"] and "full" in setting["arms"]:
            lines += ["How the learned caption weights a_i of the full arm separate the corrupted "
                      "captions from the clean ones (1: every corrupted caption below every clean "
                      "one; 0.5: chance):", ""]
            lines += corruption_table(setting)
        curve = f"validation_{name}.png"
        if validation_curve_figure(setting, os.path.join(figures_dir, curve)):
            lines += [f"![validation loss]({FIGURES}/{curve})", ""]
    main_name, main = next(iter(study["settings"].items()))
    main_seed = sorted(main["seeds"])[0]
    run_dir = os.path.join(workdir, main_name, f"seed_{main_seed}")
    lines += [f"## Beam sizes (`{main_name}`; the paper's Table 2)", ""] + beam_table(main)
    lines += [f"## The discriminator architecture B (`{main_name}`)", ""] + architecture_rows(main)
    lines += [f"## Caption weights a_i (`{main_name}`, seed {main_seed}, full arm)", ""]
    lines += [_copy_figure(os.path.join(run_dir, "joint", "caption_weights.png"), figures_dir,
                           "caption_weights.png"), ""] + weight_extremes(main)
    lines += [f"## Synthetic pairs (`{main_name}`, seed {main_seed})", "",
              "Synthetic captions of the joint phase's first draw:", ""]
    lines += synthetic_examples(run_dir)
    samples = _latest_png(os.path.join(run_dir, "gan", "samples"), "samples_")
    lines += ["GAN samples after its warm-up (each row one validation caption, its real image "
              "first, then the generator's for different noises):", "",
              _copy_figure(samples, figures_dir, "gan_samples.png"), ""]
    if samples and os.path.isfile(samples[:-len(".png")] + ".txt"):
        with open(samples[:-len(".png")] + ".txt") as f:
            lines += ["```", f.read().rstrip(), "```", ""]
    path = os.path.join(workdir, REPORT_MD)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path
