"""The code domain through the public reward API (``verify``, ``verify_batch``, ``check_reference``):
the forked verify workers drive the real sandbox, and the code verifier's time budget widens the
per-item deadline for problems with many (slow) tests."""

from __future__ import annotations

import verifiers

SQUARE = {"language": "python", "tests": [{"input": "2", "output": "4"}, {"input": "5", "output": "25\n"}]}


def answer(code: str) -> str:
    return f"<think>square it</think>\n```python\n{code}\n```"


def test_verify_code_domain_end_to_end():
    good = verifiers.verify(answer("print(int(input()) ** 2)"), SQUARE, "code")
    assert good.correct and good.score == 1.0 and good.details["fraction"] == 1.0
    assert good.details["isolation"]
    wrong = verifiers.verify(answer("print(int(input()) * 2)"), SQUARE, "code")
    assert wrong.status == "wrong" and wrong.score == 0.0
    assert wrong.details["tests"][1]["status"] == "wrong_answer"
    assert verifiers.verify("<think>never closed", SQUARE, "code").status == "no_answer"
    assert verifiers.verify(answer("print(1)"), {"language": "python"}, "code").status == "invalid_reference"


def test_verify_batch_keeps_order_and_contains_hostile_items():
    import sandbox

    sandbox.run_code("print(1)", "python")  # the parent holds warm boxes before the workers fork
    items = [
        (answer("print(int(input()) ** 2)"), SQUARE, "code"),
        (answer("while True:\n    pass"), dict(SQUARE, time_limit=0.5), "code"),
        (answer("import os\nos.kill(os.getppid(), 9)"), SQUARE, "code"),
        (answer("print(int(input()) ** 2)"), SQUARE, "code"),
    ]
    results = verifiers.verify_batch(items, workers=2)
    assert [r.status for r in results] == ["correct", "wrong", "wrong", "correct"]
    assert results[1].details["tests"][0]["status"] == "time_limit"


def test_time_budget_extends_the_deadline_for_slow_multi_test_problems():
    ref = {
        "language": "python",
        "time_limit": 2.0,
        "tests": [{"input": str(i), "output": str(i)} for i in range(3)],
    }
    slow_but_legal = answer("import time\ntime.sleep(0.5)\nprint(input())")
    r = verifiers.verify(slow_but_legal, ref, "code", timeout=0.5, run_all=True)
    assert r.correct, r.reason  # 3 x 0.5 s > timeout, but within the problem's own budget


def test_check_reference_through_the_public_api():
    ok = verifiers.check_reference(dict(SQUARE, solutions=["print(int(input()) ** 2)"]), "code")
    assert ok.ok
    bad = verifiers.check_reference(dict(SQUARE, solutions=["print(int(input()) + 2)"]), "code")
    assert not bad.ok and bad.reason == "reference_failed"
    assert bad.evidence["solutions"][0]["failed_tests"][0]["test"] == 1  # 2+2 == 4 passes, 5+2 fails
    assert (
        verifiers.check_reference({"language": "python", "tests": []}, "code").reason == "invalid_reference"
    )
