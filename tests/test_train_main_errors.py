"""train_main.py stops a bad config at start, before TensorFlow is even imported: exit code 1 and
one line on stderr naming the key, or the config file (and line) and what is wrong there;
--verbosity=1 brings the traceback back."""

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

_HEAD = "from caption_aug import config_schema\n\n\ndef get_config():\n" \
        "    config = config_schema.base_config()\n"
_CONFIG_FILES = {  # name: (get_config's body after the head, what the error line says)
    "wrong_type.py": ('    config.captioner.epochs = "two"\n    return config\n',
                      "wrong_type.py, line 6: TypeError: Could not override field 'epochs'"),
    "syntax_error.py": ("    config.captioner.epochs = = 2\n    return config\n",
                        "syntax_error.py, line 6: SyntaxError: invalid syntax"),
    "raises.py": ('    raise RuntimeError("no such dataset here")\n',
                  "raises.py, line 6: RuntimeError: no such dataset here"),
}


def _run(workdir, *flags):
    return subprocess.run([sys.executable, "train_main.py", f"--workdir={workdir}", "--mode=data",
                           *flags], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def _error_line(result) -> str:
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()  # no TensorFlow log lines: it is not imported
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("flag, message", [
    ("--config.pipeline.bucket_boundaries=(12,x)",
     "config key pipeline.bucket_boundaries=('(12,x)',) is invalid: expected a tuple of ints"),
    ("--config.captioner.small_cnn_filters=abc",
     "config key captioner.small_cnn_filters=('abc',) is invalid: expected a tuple of ints"),
    ("--config.captioner.epochs=two", "--config.captioner.epochs=two"),
])
def test_a_bad_override_fails_at_start_with_one_line_naming_the_key(tmp_path, flag, message):
    assert message in _error_line(_run(tmp_path / "run", flag))
    assert not (tmp_path / "run").exists()  # nothing was done


@pytest.mark.parametrize("name", sorted(_CONFIG_FILES))
def test_a_config_file_that_fails_gives_one_line_naming_file_and_line(tmp_path, name):
    body, message = _CONFIG_FILES[name]
    path = tmp_path / name
    path.write_text(_HEAD + body)
    line = _error_line(_run(tmp_path / "run", f"--config={path}"))
    assert f"error: config file {tmp_path / message}" in line
    assert not (tmp_path / "run").exists()


def test_verbosity_1_shows_the_traceback(tmp_path):
    path = tmp_path / "syntax_error.py"
    path.write_text(_HEAD + _CONFIG_FILES["syntax_error.py"][0])
    result = _run(tmp_path / "run", f"--config={path}", "--verbosity=1")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "SyntaxError" in result.stderr.strip().splitlines()[-1]
