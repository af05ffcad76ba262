import json
import os
import shutil
import subprocess
import sys

import pytest

from caption_aug.evaluation import bleu

ANNOTATIONS = {
    "images": [{"id": 1}, {"id": 2}, {"id": 3}],
    "annotations": [
        {"id": 10, "image_id": 1, "caption": "A man riding a horse on a beach."},
        {"id": 11, "image_id": 1, "caption": "A person rides a brown horse along the shore."},
        {"id": 12, "image_id": 2, "caption": "Two dogs play with a red ball in the grass."},
        {"id": 13, "image_id": 2, "caption": "A pair of dogs chasing a ball."},
        {"id": 14, "image_id": 3, "caption": "A plate of food with broccoli."},
    ],
}
RESULTS = [{"image_id": 1, "caption": "a man rides a horse on the beach"},
           {"image_id": 2, "caption": "two dogs play with a ball"}]


def _write(path, content):
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else json.dumps(content).encode())
    return str(path)


def _run(annotations, results, *flags, env=None):
    return subprocess.run(
        [sys.executable, "-m", "caption_aug.evaluation.eval_main",
         f"--annotations={annotations}", f"--results={results}", *flags],
        capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def files(tmp_path):
    return _write(tmp_path / "ann.json", ANNOTATIONS), _write(tmp_path / "res.json", RESULTS)


def _fails_with(proc, message):
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_prints_one_json_line_of_bleu(files):
    proc = _run(*files)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    scores = json.loads(lines[0])
    expected = bleu.corpus_bleu(
        {1: RESULTS[0]["caption"], 2: RESULTS[1]["caption"]},
        {1: [a["caption"] for a in ANNOTATIONS["annotations"][:2]],
         2: [a["caption"] for a in ANNOTATIONS["annotations"][2:4]]})
    assert scores == pytest.approx(expected)
    assert list(scores) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"]


def test_real_sample_scored_against_itself_is_perfect(coco_sample_dir, tmp_path):
    annotations = os.path.join(coco_sample_dir, "captions_val2017_sample.json")
    with open(annotations) as f:
        data = json.load(f)
    first = {}
    for annotation in data["annotations"]:
        first.setdefault(annotation["image_id"], annotation["caption"])
    results = _write(tmp_path / "res.json",
                     [{"image_id": i, "caption": c} for i, c in first.items()])
    proc = _run(annotations, results)
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout).values()) == pytest.approx([1.0] * 4)


def test_annotation_bytes_that_are_not_utf8_are_tolerated(tmp_path):
    raw = json.dumps(ANNOTATIONS).replace("brown horse", "brown caf\\u00e9 horse").encode()
    raw = raw.replace(b"caf\\u00e9", b"caf\xe9")
    proc = _run(_write(tmp_path / "ann.json", raw), _write(tmp_path / "res.json", RESULTS))
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"}


def test_missing_files(tmp_path, files):
    _fails_with(_run(tmp_path / "nope.json", files[1]), "annotations file not found")
    _fails_with(_run(files[0], tmp_path / "nope.json"), "results file not found")


def test_malformed_json(tmp_path, files):
    broken = _write(tmp_path / "broken.json", b'[{"image_id": 1, "caption": ')
    _fails_with(_run(files[0], broken), "is not valid JSON")
    _fails_with(_run(broken, files[1]), "is not valid JSON")


def test_results_for_images_not_in_the_annotations(tmp_path, files):
    results = _write(tmp_path / "res.json", RESULTS + [{"image_id": 99, "caption": "a cat"}])
    _fails_with(_run(files[0], results), "1 result image ids are not in the annotations, e.g. 99")


def test_duplicate_result_images_are_refused_as_coco_does(tmp_path, files):
    results = _write(tmp_path / "res.json", RESULTS + [{"image_id": 2, "caption": "a dog"}])
    _fails_with(_run(files[0], results), "image 2 has more than one caption")


def test_results_of_the_wrong_shape(tmp_path, files):
    _fails_with(_run(files[0], _write(tmp_path / "r1.json", {"image_id": 1})), "JSON list")
    _fails_with(_run(files[0], _write(tmp_path / "r2.json", [])), "holds no captions")
    _fails_with(_run(files[0], _write(tmp_path / "r3.json", [{"image_id": 1}])),
                "entry 0 is not an object with image_id and caption")
    _fails_with(_run(_write(tmp_path / "a.json", [1, 2]), files[1]), "not a COCO captions file")


def test_coco_eval_without_java_names_the_problem(files):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    if shutil.which("java", path=env["PATH"]):
        pytest.skip("java sits beside the Python interpreter; cannot hide it")
    _fails_with(_run(*files, "--coco_eval", env=env), "--coco_eval needs")


@pytest.mark.slow
def test_coco_eval_adds_the_toolkit_metrics(files):
    if shutil.which("java") is None:
        pytest.skip("java is not on PATH: METEOR and the toolkit tokenizer need it")
    rouge = pytest.importorskip("pycocoevalcap.rouge.rouge",
                                reason="pycocoevalcap is not installed (extra: coco-eval)")
    cider = pytest.importorskip("pycocoevalcap.cider.cider")
    proc = _run(*files, "--coco_eval")
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(proc.stdout)
    assert list(scores) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"]
    plain = json.loads(_run(*files).stdout)
    assert {name: scores[name] for name in plain} == pytest.approx(plain)
    assert 0 < scores["METEOR"] < 1
    # The toolkit's tokenizer and ours agree on these captions, so its scorers can check ours.
    gts = {1: ["a man riding a horse on a beach", "a person rides a brown horse along the shore"],
           2: ["two dogs play with a red ball in the grass", "a pair of dogs chasing a ball"]}
    res = {i: [r["caption"]] for i, r in zip((1, 2), RESULTS)}
    assert scores["ROUGE_L"] == pytest.approx(rouge.Rouge().compute_score(gts, res)[0])
    assert scores["CIDEr"] == pytest.approx(cider.Cider().compute_score(gts, res)[0])
