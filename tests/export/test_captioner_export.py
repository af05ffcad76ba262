"""The exported captioner SavedModel, loaded in a fresh process that never imports caption_aug,
captions the real COCO sample JPEGs (and grayscale / RGBA PNGs) exactly as the model does in
process, and rejects empty or undecodable bytes with a clear InvalidArgument error; the
`caption_aug_caption` command prints one caption per image."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from caption_aug.data import pipelines
from caption_aug.evaluation import captioner_eval
from caption_aug.export import caption_main
from caption_aug.export import captioner_export
from caption_aug.models.captioner import build_captioner
from caption_aug.text import tokenizer as tokenizer_lib
from tests.models.captioner_fixtures import tiny_captioner_config, tiny_transformer

IMAGE_SIZE = 32
MAX_LENGTH = 8
BEAM = 3

_LOAD_AND_CAPTION = r"""
import json, sys
import tensorflow as tf
model_dir, listing = sys.argv[1], sys.argv[2]
serve = tf.saved_model.load(model_dir).signatures["serving_default"]
paths = json.load(open(listing))
images = [open(p, "rb").read() for p in paths]
out = serve(images=tf.constant(images))
errors = {}
for name, bad in (("empty", b""), ("garbage", b"not an image at all")):
    try:
        serve(images=tf.constant(images[:2] + [bad]))
        errors[name] = None
    except tf.errors.InvalidArgumentError as e:
        errors[name] = e.message
print(json.dumps({
    "captions": [c.decode("utf-8", "replace") for c in out["captions"].numpy()],
    "log_probs": out["log_probs"].numpy().tolist(),
    "errors": errors,
    "imported_caption_aug": any(m.startswith("caption_aug") for m in sys.modules)}))
"""


def _export(tmp_path_factory, coco_sample_dir, **overrides):
    """(model, tokenizer, SavedModel path, folder) of a fresh tiny captioner, exported."""
    with open(os.path.join(coco_sample_dir, "captions_val2017_sample.json")) as f:
        captions = [a["caption"].lower() for a in json.load(f)["annotations"]]
    root = tmp_path_factory.mktemp("export")
    tok = tokenizer_lib.CaptionTokenizer.train(captions, str(root / "tokenizer"), vocab_size=400)
    tf.keras.utils.set_random_seed(5)
    model = build_captioner(tiny_captioner_config(**overrides), tok.vocabulary_size, IMAGE_SIZE)
    path = captioner_export.export_captioner(model, tok, str(root / "captioner"), IMAGE_SIZE,
                                             "imagenet", BEAM, MAX_LENGTH, jit_compile=True)
    return model, tok, path, root


@pytest.fixture(scope="module")
def exported(tmp_path_factory, coco_sample_dir):
    return _export(tmp_path_factory, coco_sample_dir)


@pytest.fixture(scope="module")
def exported_transformer(tmp_path_factory, coco_sample_dir):
    return _export(tmp_path_factory, coco_sample_dir,
                   **tiny_transformer(num_layers=1, dropout=0.1, max_length=MAX_LENGTH + 1))


@pytest.fixture(scope="module")
def image_paths(exported, coco_sample_dir):
    root = exported[3]
    rgb = np.asarray(Image.open(sorted(glob.glob(os.path.join(coco_sample_dir, "images", "*.jpg")))[0]))
    Image.fromarray(rgb).convert("L").save(root / "gray.png")
    rgba = np.concatenate([rgb[:300, :200], np.full(rgb[:300, :200, :1].shape, 128, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(root / "rgba.png")
    jpegs = sorted(glob.glob(os.path.join(coco_sample_dir, "images", "*.jpg")))
    return jpegs + [str(root / "gray.png"), str(root / "rgba.png")]


@pytest.mark.slow
@pytest.mark.parametrize("decoder", ["exported", "exported_transformer"],
                         ids=["lstm_attention", "transformer"])
def test_fresh_process_captions_real_photos_like_the_model_in_process(request, decoder,
                                                                      image_paths):
    model, tok, path, root = request.getfixturevalue(decoder)
    listing = root / "images.json"
    listing.write_text(json.dumps(image_paths))
    result = subprocess.run([sys.executable, "-c", _LOAD_AND_CAPTION, path, str(listing)],
                            capture_output=True, text=True, cwd=str(root), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert not served["imported_caption_aug"]
    assert len(served["captions"]) == len(image_paths) == 42  # the 40 sample JPEGs, gray, RGBA
    assert all(isinstance(c, str) and c for c in served["captions"])
    assert all(np.isfinite(lp) and lp < 0 for lp in served["log_probs"])
    assert "empty image bytes" in served["errors"]["empty"] and "[2]" in served["errors"]["empty"]
    assert "Unknown image file format" in served["errors"]["garbage"]

    pixels = tf.stack([pipelines.decode_and_resize(p, is_path=True, size=IMAGE_SIZE)
                       for p in image_paths])
    local = captioner_eval.CaptionGenerator(model, tok, MAX_LENGTH)(
        pipelines.normalize_images(pixels, "imagenet"), BEAM)
    assert [c.decode("utf-8", "replace") for c in local["captions"]] == served["captions"]
    np.testing.assert_allclose(local["log_probs"], served["log_probs"], rtol=1e-4)


def test_caption_command_prints_one_line_per_image_and_names_a_bad_file(exported, image_paths,
                                                                         tmp_path):
    _, _, path, _ = exported
    command = [sys.executable, "-m", "caption_aug.export.caption_main", "--model", path]
    good = subprocess.run(command + image_paths[:2] + image_paths[-1:], capture_output=True,
                          text=True, timeout=300)
    assert good.returncode == 0, good.stderr[-3000:]
    lines = good.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == image_paths[:2] + image_paths[-1:]
    assert all(len(line.split("\t")) == 3 and float(line.split("\t")[2]) < 0 for line in lines)

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    bad = subprocess.run(command + [image_paths[0], str(broken)], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 1 and not bad.stdout
    errors = [line for line in bad.stderr.splitlines() if line.startswith("caption_aug_caption:")]
    assert len(errors) == 1 and str(broken) in errors[0], bad.stderr[-2000:]
    assert "jpeg" in errors[0].lower(), errors[0]  # the decoder's reason, not a generic header


def test_a_caption_with_newlines_and_tabs_prints_as_one_line_of_three_fields():
    line = caption_main.output_line("a.jpg", "a red\ncircle\t and\n\na star", -1.23456)
    assert line == "a.jpg\ta red circle and a star\t-1.235"
