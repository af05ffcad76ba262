"""`--mode=data` end to end on folders the tests build: bad input is skipped and counted, good input is all there."""

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT

GOOD_IMAGES = 8


def _write_image(path, mode, fmt):
    pixels = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, fmt)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, coco_sample_dir):
    """A COCO-format folder: 8 real JPEGs, an RGBA PNG and a CMYK JPEG (kept), a truncated JPEG,
    a zero-byte file and a missing file (skipped), bad captions on the good images and a repeated
    annotation id."""
    root = tmp_path_factory.mktemp("bad_coco")
    image_dir = root / "images"
    image_dir.mkdir()
    real = sorted(os.listdir(os.path.join(coco_sample_dir, "images")))[:GOOD_IMAGES]
    for name in real:
        shutil.copy(os.path.join(coco_sample_dir, "images", name), image_dir / name)
    _write_image(image_dir / "rgba.png", "RGBA", "PNG")
    _write_image(image_dir / "cmyk.jpg", "CMYK", "JPEG")
    truncated = (image_dir / real[0]).read_bytes()
    (image_dir / "truncated.jpg").write_bytes(truncated[:len(truncated) // 2])
    (image_dir / "empty.jpg").write_bytes(b"")
    files = real + ["rgba.png", "cmyk.jpg", "truncated.jpg", "empty.jpg", "missing.jpg"]
    images = [{"id": k + 1, "file_name": name} for k, name in enumerate(files)]
    annotations = []
    for image in images:
        for n in range(5):
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"],
                                "caption": f"A photo number {image['id']} with caption {n}."})
    bad = {0: "", 1: " \t ", 2: "NONUTF8", 3: " ".join(["word"] * 500),
           5: "\u0000\u0007\u001b\u007f"}  # on the second image: the first keeps one caption
    for k, caption in bad.items():
        annotations[k]["caption"] = caption
    annotations.append(dict(annotations[6], caption="A second caption under a used id."))
    text = json.dumps({"images": images, "annotations": annotations}).encode()
    text = text.replace(b"NONUTF8", b"caf\xe9 \xff sign")
    (root / "captions.json").write_bytes(text)
    return root


def _run(workdir, *flags):
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "train_main.py"), f"--workdir={workdir}",
         "--mode=data", *flags], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)


def _coco_flags(folder, annotations="captions.json"):
    return ["--config=" + os.path.join(REPO_ROOT, "configs", "coco_sample.py"),
            f"--config.data.coco.annotations={folder / annotations}",
            f"--config.data.coco.image_dir={folder / 'images'}",
            "--config.tokenizer.vocab_size=300", "--config.tokenizer.min_frequency=1"]


def test_bad_items_are_skipped_and_counted_good_items_all_there(bad_folder, tmp_path):
    result = _run(tmp_path / "run", *_coco_flags(bad_folder))
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "data" / "summary.json") as f:
        summary = json.load(f)
    splits = summary["splits"].values()
    skipped = {}
    for split in splits:
        for reason, info in split["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + info["count"]
    assert skipped == {"image_undecodable": 1, "image_empty": 1, "image_missing": 1,
                       "caption_empty": 2, "caption_not_utf8": 1, "caption_too_long": 1,
                       "caption_not_printable": 1}
    assert {reason: info["count"] for reason, info in summary["skipped_while_reading"].items()} == {
        "annotation_duplicate_id": 1}
    assert sum(s["images"] for s in splits) == GOOD_IMAGES + 2  # the RGBA PNG and CMYK JPEG stay
    assert sum(s["captions"] for s in splits) == (GOOD_IMAGES + 2) * 5 - 5
    assert "image_missing" in result.stdout and "caption_not_utf8" in result.stdout


def test_rerun_reuses_tokenizer_and_image_checks(bad_folder, tmp_path):
    assert _run(tmp_path / "run", *_coco_flags(bad_folder)).returncode == 0
    vocab = (tmp_path / "run" / "tokenizer" / "vocab.json").read_text()
    checks = json.loads((tmp_path / "run" / "data" / "image_checks.json").read_text())
    assert len(checks) == GOOD_IMAGES + 4  # every existing file checked once
    again = _run(tmp_path / "run", *_coco_flags(bad_folder), "--config.tokenizer.vocab_size=400")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "run" / "tokenizer" / "vocab.json").read_text() == vocab


@pytest.mark.parametrize("flags, message", [
    (["--config=" + os.path.join(REPO_ROOT, "configs", "coco_sample.py"),
      "--config.data.coco.annotations=/nonexistent/captions.json"],
     "data.coco.annotations='/nonexistent/captions.json'"),
    (["--config.data.sorce=coco"], "unknown config key: 'sorce'"),
    (["--config=/nonexistent/config.py"], "config file not found: /nonexistent/config.py"),
    (["--config.data.source=flickr30k"], "data.source='flickr30k'"),
])
def test_bad_start_fails_with_one_line_naming_it(tmp_path, flags, message):
    result = _run(tmp_path / "run", *flags)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr[-2000:]


def test_unknown_key_in_a_config_file_fails_with_one_line(tmp_path):
    config = tmp_path / "typo.py"
    config.write_text("from caption_aug import config_schema\n\n"
                      "def get_config():\n    c = config_schema.base_config()\n"
                      "    c.data.max_caption_wrds = 3\n    return c\n")
    result = _run(tmp_path / "run", f"--config={config}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_caption_wrds" in lines[0], result.stderr[-2000:]


def test_real_coco_sample_loads_every_image_and_caption(tmp_path):
    from caption_aug.data import prepare
    from configs import coco_sample
    data = prepare.prepare(coco_sample.get_config(), str(tmp_path))
    splits = data.splits.values()
    assert sum(s.num_images for s in splits) == 40
    assert sum(len(s.flat_captions) for s in splits) == 200
    assert all(s["skipped_total"] == 0 for s in data.summary["splits"].values())
    assert not set(data.splits["train"].image_ids) & set(data.splits["test"].image_ids)
    for split in splits:
        assert min(min(ids) for ids in split.caption_tokens) >= 0


@pytest.mark.slow
def test_main_job_on_the_embedded_default(tmp_path):
    result = _run(tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "data" / "summary.json").read_text())
    assert summary["source"] == "caption_shapes"
    counts = {name: (s["images"], s["captions"]) for name, s in summary["splits"].items()}
    assert counts == {"train": (4000, 20000), "validation": (500, 2500), "test": (500, 2500)}
    assert summary["splits"]["train"]["captions_cut_to_max_tokens"] == 0
    assert "train: 4000 images, 20000 captions" in result.stdout


def test_compositional_holdout_from_the_config_string(tmp_path):
    from caption_aug import config_schema
    from caption_aug.data import prepare
    config = config_schema.base_config()
    config.data.caption_shapes.update(dict(train_size=120, validation_size=40, test_size=40,
                                           resolution=32, holdout="red circle, large star"))
    data = prepare.prepare(config, str(tmp_path))

    def shows_holdout(split):
        return [any((o["colour"], o["shape"]) == ("red", "circle")
                    or (o["size"], o["shape"]) == ("large", "star") for o in scene["objects"])
                for scene in split.metadata]
    assert not any(shows_holdout(data.splits["train"]))
    assert any(shows_holdout(data.splits["test"]))


def test_corrupted_train_captions_are_shuffled_listed_and_the_rest_untouched(tmp_path):
    from caption_aug import config_schema
    from caption_aug.data import corruption
    from caption_aug.data import prepare
    config = config_schema.base_config()
    config.data.caption_shapes.update(dict(train_size=40, validation_size=8, test_size=8,
                                           resolution=32))
    clean = prepare.prepare(config, str(tmp_path / "clean"))
    config.data.corrupt_fraction = 0.2
    corrupted = prepare.prepare(config, str(tmp_path / "corrupted"))
    indices = corruption.read_indices(str(tmp_path / "corrupted"))
    assert len(indices) == 40 and corruption.read_indices(str(tmp_path / "clean")) is None
    before, after = clean.splits["train"].flat_captions, corrupted.splits["train"].flat_captions
    assert [k for k, (b, a) in enumerate(zip(before, after)) if b != a] == indices
    for name in ("validation", "test"):
        assert clean.splits[name].flat_captions == corrupted.splits[name].flat_captions
