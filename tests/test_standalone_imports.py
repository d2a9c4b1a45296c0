"""The standalone promise: the reward library and the sandbox import without the heavy stack."""

import json
import subprocess
import sys

HEAVY = ["torch", "polars", "datasets", "transformers", "pandas", "pyarrow"]


def test_verifiers_and_sandbox_import_without_heavy_modules():
    code = (
        "import sys, json, verifiers, sandbox\n"
        "import verifiers.registry\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_every_builtin_domain_imports_without_heavy_modules():
    code = (
        "import sys, json, verifiers\n"
        "from verifiers.registry import builtin_modules\n"
        "import importlib\n"
        "missing = []\n"
        "for mod in builtin_modules().values():\n"
        "    try: importlib.import_module(mod)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if not mod.startswith(str(e.name)): raise\n"
        "        missing.append(mod)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
