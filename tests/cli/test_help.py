"""Both console scripts list every verb of docs/architecture.md §5."""

import shutil
import subprocess
import sys

import pytest


def _run(args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("module", "verbs"),
    [
        ("cli.ring_data", ["clean", "verify", "annotate"]),
        ("cli.ring_train", ["sft", "select-checkpoint", "rl"]),
    ],
)
def test_help_lists_every_verb(module, verbs):
    out = _run([module, "--help"])
    assert out.returncode == 0, out.stderr
    for verb in verbs:
        assert verb in out.stdout


@pytest.mark.parametrize("script", ["ring-data", "ring-train"])
def test_console_scripts_installed(script):
    path = shutil.which(script) or shutil.which(
        script, path=str(__import__("pathlib").Path(sys.executable).parent)
    )
    assert path, f"{script} is not on PATH; is the package installed?"
    out = subprocess.run([path, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage:" in out.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    from cli._app import Verb, main

    mod = tmp_path / "clitest_badverb.py"
    mod.write_text(
        "from ring_data.errors import BadInputError\n"
        "def add_arguments(p): p.add_argument('path')\n"
        "def run(args): raise BadInputError(args.path, 'missing required field', line=3, field='prompt')\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        verbs = [
            Verb("go", "clitest_badverb", "test verb"),
            Verb("later", "clitest_absent_module", "not yet"),
        ]
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main("prog", "d", verbs, ["go", "x.jsonl"]) == 2
        lines = err.getvalue().strip().splitlines()
        assert lines == ["prog go: error: x.jsonl:3: field 'prompt': missing required field"]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main("prog", "d", verbs, ["later"]) == 2
        assert err.getvalue().strip() == "prog later: not available yet in this version"
    finally:
        sys.path.remove(str(tmp_path))
