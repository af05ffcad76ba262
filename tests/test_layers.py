"""The package's layers import one way (docs/DESIGN.md, Layout): a module may import its own
layer and those below it, never one above."""

import pathlib
import re

import pytest

# Lowest first: text <- data <- models <- workdir <- evaluation <- export <- training.
LAYERS = ("text", "data", "models", "workdir", "evaluation", "export", "training")
PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "caption_aug"


def upward_imports(package: pathlib.Path) -> list:
    """(file, import line) for every import of a higher layer than the file's own."""
    found = []
    for path in sorted(package.rglob("*.py")):
        layer = path.relative_to(package).parts[0]
        if layer not in LAYERS:
            continue
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:from|import) caption_aug\.(\w+)", line)
            if match and match.group(1) in LAYERS and (
                    LAYERS.index(match.group(1)) > LAYERS.index(layer)):
                found.append((str(path.relative_to(package)), line.strip()))
    return found


def test_no_layer_imports_a_higher_one():
    assert upward_imports(PACKAGE) == []


def test_the_check_sees_an_upward_import(tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "bad.py").write_text("from caption_aug.data import corpus\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "good.py").write_text("from caption_aug.text import normalize\n")
    assert upward_imports(tmp_path) == [("text/bad.py", "from caption_aug.data import corpus")]


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_exists(layer):
    assert (PACKAGE / layer).is_dir()
