"""The adapters and the reward server keep the reward library's promise: importing them pulls in no
torch, polars, datasets, transformers, pandas or pyarrow (a trainer's process may not want them, and
the server extra installs none of them); the adapter files print their own path for trainer configs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ["torch", "polars", "datasets", "transformers", "pandas", "pyarrow"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    ["verifiers.adapters.trl", "verifiers.adapters.verl", "verifiers.adapters.openrlhf", "verifiers.server"],
)
def test_imports_without_heavy_modules(module):
    if module == "verifiers.server":
        pytest.importorskip("starlette")
    code = f"import sys, json, {module}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("name", ["verl", "openrlhf"])
def test_python_dash_m_prints_the_file_to_give_the_trainer(name):
    out = subprocess.run(
        [sys.executable, "-m", f"verifiers.adapters.{name}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    path = Path(out.stdout.strip())
    assert path.is_file() and path.name == f"{name}.py"
    # loadable by path, outside the package (how verl and OpenRLHF load it)
    code = (
        f"import importlib.util as u; s = u.spec_from_file_location('x', {str(path)!r}); m = u.module_from_spec(s); "
        "s.loader.exec_module(m); print(m.compute_score('math', '\\\\boxed{2}', '2') if hasattr(m, 'compute_score') "
        "else m.reward_func(['q \\\\boxed{2}'], ['q '], ['2'])['rewards'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() in ("1.0", "[1.0]")
