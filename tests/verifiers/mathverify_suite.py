"""Math-Verify's own published test cases, read from its PyPI source distribution.

The conformance test and ``benchmarks/verifiers.py`` score every ``(gold, pred, expected)`` case of
Math-Verify's test suite with ``verifiers.verify`` and count agreement. The cases are not copied into
this repository: ``make install-dev`` downloads the sdist (``pip download --no-binary :all:``) to
``.venv/reference/``, and this module parses its test files with ``ast`` (nothing in them is executed).

A case is ``MVCase(file, test, gold, pred, expected, options)``: ``options`` carries the grader settings
the published test used (``precision``, ``strict``, ``allow_set_relation_comp``, ``match_types``).
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MATHVERIFY_VERSION = "0.9.0"
SDIST_NAME = f"math_verify-{MATHVERIFY_VERSION}.tar.gz"


def sdist_path() -> Path | None:
    """The sdist, from ``RING_MATHVERIFY_SDIST`` or ``<venv>/reference/``; None when absent."""
    env = os.environ.get("RING_MATHVERIFY_SDIST")
    candidates = [Path(env)] if env else []
    candidates += [Path(sys.prefix) / "reference" / SDIST_NAME]
    candidates += [Path(__file__).resolve().parents[2] / ".venv" / "reference" / SDIST_NAME]
    return next((p for p in candidates if p.is_file()), None)


@dataclass(frozen=True)
class MVCase:
    file: str
    test: str
    gold: str
    pred: str
    expected: bool
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A stable id that names the case without quoting it (12 hex digits of its sha1)."""
        return hashlib.sha1(f"{self.gold}\x00{self.pred}".encode()).hexdigest()[:12]


_GRADER_KWARGS = ("precision", "strict", "allow_set_relation_comp", "match_types")


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _call_options(fn: ast.FunctionDef) -> dict[str, Any] | None:
    """Fixed grader settings of the test body's ``compare_strings(...)``; None when the test scores
    cases another way (its own ``verify(parse(..))`` call counts as the defaults)."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "compare_strings":
                return {
                    kw.arg: _literal(kw.value)
                    for kw in node.keywords
                    if kw.arg in _GRADER_KWARGS and not isinstance(kw.value, ast.Name)
                }
            if node.func.id == "verify":
                return {}
    return None


def _parametrize(fn: ast.FunctionDef) -> tuple[list[str], list[Any]] | None:
    for deco in fn.decorator_list:
        if isinstance(deco, ast.Call) and ast.unparse(deco.func).endswith("parametrize"):
            names = _literal(deco.args[0])
            rows = _literal(deco.args[1])
            if isinstance(names, str) and isinstance(rows, list):
                return [n.strip() for n in names.split(",")], rows
    return None


def cases_from_source(source: str, file: str) -> list[MVCase]:
    out: list[MVCase] = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef):
            continue
        fixed = _call_options(fn)
        params = _parametrize(fn)
        if fixed is None or params is None:
            continue
        names, rows = params
        if not {"gold", "pred"} <= set(names):
            continue
        verdict = "expected" if "expected" in names else "result"
        for row in rows:
            values = dict(zip(names, row))
            options = dict(fixed)
            options.update({k: values[k] for k in _GRADER_KWARGS if k in values})
            out.append(MVCase(file, fn.name, values["gold"], values["pred"], bool(values[verdict]), options))
    return out


def load_cases(path: Path | None = None) -> list[MVCase]:
    """Every parametrized (gold, pred, expected) case of the sdist's ``tests/`` files."""
    path = path or sdist_path()
    if path is None:
        raise FileNotFoundError(f"{SDIST_NAME} not found (make install-dev downloads it)")
    cases: list[MVCase] = []
    with tarfile.open(path) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = Path(member.name).parts
            if member.isfile() and "tests" in parts and member.name.endswith(".py"):
                source = tar.extractfile(member).read().decode("utf-8")
                cases += cases_from_source(source, Path(member.name).name)
    return cases


# ---- where the project deliberately differs (docs/verifiers.md, "Math-Verify's own test cases") ----

# cases whose published verdict accepts a wrong answer: named by key, with the reason
ACCEPTS_WRONG = {
    "18be4a7da483": "1 - 1/e and 1 + 1/e are different numbers (math-verify's own case expects a match)",
}


def convention(case: MVCase) -> str | None:
    """The documented convention that explains a disagreement on ``case``, or None."""
    from verifiers import check_reference
    from verifiers.extract import all_boxed, extract_answer
    from verifiers.math import MAX_BARE_ANSWER_CHARS, as_text, normalize_answer

    if case.key in ACCEPTS_WRONG:
        return "accepts_wrong"
    if case.options.get("strict") is False or case.options.get("allow_set_relation_comp"):
        return "grader_options"
    if not check_reference({"answer": case.gold}, "math").ok:
        return "invalid_reference"
    if len({b.replace(" ", "") for b in all_boxed(case.pred)}) > 1:
        return "several_boxes"
    ext = extract_answer(case.pred, text_fallback=True, max_text_chars=MAX_BARE_ANSWER_CHARS)
    if ext.source == "none":
        return "no_marker"
    words = as_text(normalize_answer(ext.answer)) if ext.source == "text" else None
    if words is not None and len(words.split()) > 3:
        return "bare_text_cap"
    return None


@dataclass
class Conformance:
    cases: int
    agree: int
    convention_cases: dict[str, int]
    convention_disagreements: dict[str, int]
    other_disagreements: list[MVCase]
    accepts_where_mathverify_rejects: list[MVCase]
    all_boxes_agree: int  # with boxes="all"

    @property
    def checked(self) -> int:
        """Cases outside the documented conventions (the ones the agreement target counts)."""
        return self.cases - sum(self.convention_cases.values())

    @property
    def agreement(self) -> float:
        return 1 - len(self.other_disagreements) / max(self.checked, 1)


def conformance(cases: list[MVCase], workers: int | None = None) -> Conformance:
    """Score every case through the public ``verify_batch`` (default and ``boxes="all"``)."""
    from verifiers import verify_batch

    def items(**extra: Any) -> list:
        return [
            (c.pred, {"answer": c.gold}, "math", {"float_rounding": c.options.get("precision", 6), **extra})
            for c in cases
        ]

    default = verify_batch(items(), workers=workers)
    all_boxes = verify_batch(items(boxes="all"), workers=workers)
    conv_cases: dict[str, int] = {}
    conv_dis: dict[str, int] = {}
    other, accepts = [], []
    for c, r in zip(cases, default):
        why = convention(c)
        if why:
            conv_cases[why] = conv_cases.get(why, 0) + 1
        if r.correct != c.expected:
            if why:
                conv_dis[why] = conv_dis.get(why, 0) + 1
            else:
                other.append(c)
            if r.correct:
                accepts.append(c)
    return Conformance(
        cases=len(cases),
        agree=sum(r.correct == c.expected for c, r in zip(cases, default)),
        convention_cases=conv_cases,
        convention_disagreements=conv_dis,
        other_disagreements=other,
        accepts_where_mathverify_rejects=accepts,
        all_boxes_agree=sum(r.correct == c.expected for c, r in zip(cases, all_boxes)),
    )
