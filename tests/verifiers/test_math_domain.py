"""math domain: a labelled corpus of hard cases, agreement with math-verify, and adversarial inputs."""

import json
import logging
from pathlib import Path

import pytest

from verifiers import Status, check_reference, verify, verify_batch
from verifiers.math import verify_math

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "math_cases.jsonl").open()]

# where this library deliberately disagrees with raw math-verify (docs/verifiers.md, "math policy")
DELIBERATE = {
    "scientific", "percent", "exact", "box_merging", "think", "mixed_number", "thousands", "matrix", "minerva",
    "decimal_comma",
}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['kind']}:{c['gold']}|{c['response'][:30]}")
def test_labelled_hard_case(case):
    res = verify_math(case["response"], case["gold"])
    assert res.correct is case["expected"], res.reason


def test_corpus_accuracy_beats_raw_math_verify_and_accepts_no_hard_negative():
    from math_verify import parse
    from math_verify import verify as mv

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    ours = mine_wrong_accepts = theirs = 0
    disagreements = []
    for c in CASES:
        o = verify_math(c["response"], c["gold"]).correct
        if c["kind"] == "hostile":  # raw math-verify without its (main-thread-only) timeouts never returns
            ours += o == c["expected"]
            theirs += not c["expected"]  # its timeout answers False
            mine_wrong_accepts += o and not c["expected"]
            continue
        m = mv(parse(f"${c['gold']}$", parsing_timeout=None), parse(c["response"], parsing_timeout=None),
               timeout_seconds=None)  # fmt: skip
        ours += o == c["expected"]
        theirs += m == c["expected"]
        mine_wrong_accepts += o and not c["expected"]
        if o != m:
            disagreements.append(c["kind"])
    assert ours / len(CASES) >= 0.97
    assert mine_wrong_accepts == 0
    assert theirs < ours  # the corpus is hard for the raw library
    # every disagreement with math-verify is one of the documented policies
    assert set(disagreements) <= DELIBERATE | {"answer_line", "latex"}, disagreements


def test_statuses_for_missing_answers_and_bad_references():
    assert verify_math("<think>\\boxed{3}", "3").status == Status.NO_ANSWER
    assert verify_math("", "3").status == Status.NO_ANSWER
    assert (
        verify_math("I am not sure, let me think about the problem in many more words", "3").status
        == Status.NO_ANSWER
    )
    assert verify_math(None, "3").status == Status.NO_ANSWER
    assert verify_math("\\boxed{3}", {"answer": ""}).status == Status.INVALID_REFERENCE
    assert verify_math("\\boxed{3}", {"no": 1}).status == Status.INVALID_REFERENCE
    assert verify_math("\\boxed{3}", {"answer": 3}).correct


def test_reference_checks():
    assert check_reference({"answer": "\\frac{1}{2}"}, "math").ok
    assert check_reference("Evelyn", "math").ok
    bad = check_reference({"answer": ""}, "math")
    assert not bad.ok and bad.reason == "invalid_reference"
    assert not check_reference({"answer": "\\frac{"}, "math").ok


@pytest.mark.parametrize("gold", ["{", "\\frac{", "}{", "x}", "$", "%", " .", "$$"])
def test_a_reference_check_reference_rejects_is_invalid_in_verify_too(gold):
    """Such a reference (groups that do not close, or text that neither reads as words nor parses)
    can equal no right answer: the row is broken. ``verify`` used to say ``wrong`` (blaming the
    policy), or ``correct`` for a response copying the garbage (a reward for it)."""
    assert not check_reference({"answer": gold}, "math").ok
    for response in ("\\boxed{5}", "\\boxed{" + gold + "}", "The answer is " + gold):
        assert verify_math(response, {"answer": gold}).status == Status.INVALID_REFERENCE
    # escaped braces are text, not groups
    assert verify_math("\\boxed{\\{1, 2\\}}", {"answer": "\\{1, 2\\}"}).correct


PAYLOADS = [
    "\\boxed{__import__('pathlib').Path('{f}').touch() or 2}",
    "Answer: __import__('os').system('touch {f}')",
    "\\boxed{\\text{exec(\"open('{f}','w')\")}}",
    "<answer>eval(\"open('{f}','w').close()\")</answer>",
]


def test_code_payloads_are_never_executed(tmp_path):
    for i, p in enumerate(PAYLOADS):
        target = tmp_path / f"pwned{i}"
        res = verify(p.replace("{f}", str(target)), "2", "math", timeout=5)
        assert not res.correct
        assert not target.exists()


def test_adversarial_inputs_return_within_the_timeout():
    import time

    items = [
        ("\\boxed{9^{9^{9^{9}}}}", "1", "math"),
        ("\\boxed{" + "(" * 10000 + "1" + ")" * 10000 + "}", "1", "math"),
        ("\\boxed{" + "{" * 10000 + "1" + "}" * 10000 + "}", "1", "math"),
        ("x" * 1_000_000 + " \\boxed{1}", "1", "math"),
        ("\\boxed{" + "1+" * 200_000 + "1}", "1", "math"),
    ]
    t = time.monotonic()
    res = verify_batch(items, workers=2, timeout=2)
    assert time.monotonic() - t < 12
    assert res[3].correct  # a long response with a clear answer is fine
    for r in res[:3] + res[4:]:
        assert r.status in (Status.TIMEOUT, Status.WRONG, Status.ERROR), r


def test_bare_answers_without_a_box():
    assert verify_math("1e6", "1000000").correct
    assert verify_math("<think>x</think>1,000", "1000").correct
    assert verify_math("3/4", "0.75").correct
    assert not verify_math("3/5", "0.75").correct
