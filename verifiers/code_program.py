"""The code domain's inputs: the program pulled from a response, the reference, and the Python
drivers for function-call and assert-style tests.

Drivers read a per-run random marker from stdin before the solution runs (then stdin is /dev/null),
keep it in a function local, and print it only after the tests: a solution that exits early with
success, or swallows the tests' failure by exiting, never prints it. The solution runs with its own
globals, so the driver's names are not within its reach by plain lookups.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.languages import ALIASES

from .code_compare import DEFAULT_FLOAT_TOL

_FENCE = re.compile(r"^[ \t]*```[ \t]*([^\s`]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)


def extract_program(answer: str, language: str) -> str | None:
    """The last fenced block tagged with ``language`` (or an alias); else the last untagged one."""
    tagged, untagged = None, None
    for m in _FENCE.finditer(answer):
        tag, body = m.group(1).lower(), m.group(2)
        if not body.strip():
            continue
        if not tag:
            untagged = body
        elif ALIASES.get(tag) == language:
            tagged = body
    return tagged if tagged is not None else untagged


@dataclass(frozen=True)
class CodeReference:
    language: str  # canonical: python | cpp | java
    tests: list[dict[str, Any]] = field(default_factory=list)  # {"input": str, "output": str | value}
    fn_name: str | None = None
    test_code: str | None = None
    time_limit: float = 5.0
    memory_limit_mb: int = 512
    float_tol: float = DEFAULT_FLOAT_TOL

    @property
    def n_checks(self) -> int:
        return len(self.tests) + (1 if self.test_code else 0)


def parse_reference(reference: Any, **options: Any) -> CodeReference:
    """Validate a code reference; raises ValueError with a short reason when it is unusable."""
    try:
        return _parse_reference(reference, **options)
    except RecursionError:  # JSON arguments or results nested past the parser's limit
        raise ValueError("a test's JSON is nested too deeply") from None


def _parse_reference(reference: Any, **options: Any) -> CodeReference:
    if not isinstance(reference, dict):
        raise ValueError("a code reference must be an object")
    lang = ALIASES.get(str(reference.get("language", "python")).strip().lower())
    if lang is None:
        raise ValueError(f"unsupported language {reference.get('language')!r}")
    tests = reference.get("tests")
    if tests is None and isinstance(reference.get("inputs"), list):  # APPS/TACO style
        outs = reference.get("outputs")
        if not isinstance(outs, list) or len(outs) != len(reference["inputs"]):
            raise ValueError("'inputs' and 'outputs' must be lists of the same length")
        tests = [{"input": i, "output": o} for i, o in zip(reference["inputs"], outs)]
    tests = tests or []
    if not isinstance(tests, list) or not all(isinstance(t, dict) and "output" in t for t in tests):
        raise ValueError("'tests' must be a list of {input, output} objects")
    fn_name, test_code = reference.get("fn_name"), reference.get("test_code")
    if fn_name is not None and (not isinstance(fn_name, str) or not fn_name.isidentifier()):
        raise ValueError("'fn_name' must be a Python identifier")
    if test_code is not None and (not isinstance(test_code, str) or not test_code.strip()):
        raise ValueError("'test_code' must be non-empty source")
    if test_code is not None:
        try:
            ast.parse(test_code)
        except SyntaxError as e:
            raise ValueError(f"'test_code' does not parse: {e.msg} (line {e.lineno})") from None
    if (fn_name or test_code) and lang != "python":
        raise ValueError("'fn_name' and 'test_code' tests are supported for Python only")
    if not tests and not test_code:
        raise ValueError("the reference has no tests")
    norm = []
    for i, t in enumerate(tests):
        inp = t.get("input", "")
        if fn_name:
            if isinstance(inp, list):  # already-parsed arguments
                inp = "\n".join(json.dumps(a) for a in inp)
            out = t["output"]
            if isinstance(out, str):
                try:
                    out = json.loads(out)
                except ValueError:
                    raise ValueError(f"test {i}: 'output' is not JSON (fn_name tests)") from None
            try:
                for line in str(inp).split("\n"):
                    if line.strip():
                        json.loads(line)
            except ValueError:
                raise ValueError(f"test {i}: 'input' must hold JSON arguments, one per line") from None
            norm.append({"input": str(inp), "output": out})
        else:
            if not isinstance(inp, str) or not isinstance(t["output"], str):
                raise ValueError(f"test {i}: 'input' and 'output' must be strings")
            if not _is_text(inp) or not _is_text(t["output"]):  # the sandbox could not send or match it
                raise ValueError(f"test {i}: 'input' or 'output' holds a lone surrogate, which is not text")
            norm.append({"input": inp, "output": t["output"]})
    try:
        time_limit = float(options.get("time_limit") or reference.get("time_limit") or 5.0)
        memory = int(options.get("memory_limit_mb") or reference.get("memory_limit_mb") or 512)
        tol = float(options.get("float_tol") or reference.get("float_tol") or DEFAULT_FLOAT_TOL)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise ValueError("'time_limit', 'memory_limit_mb' and 'float_tol' must be numbers") from None
    if not (0 < time_limit <= 600 and 16 <= memory <= 65536 and 0 <= tol < 1):
        raise ValueError("limits out of range (time_limit 0-600 s, memory_limit_mb 16-65536)")
    return CodeReference(lang, norm, fn_name, test_code, time_limit, memory, tol)


def _is_text(s: str) -> bool:
    """Whether ``s`` can be written as UTF-8 (a lone surrogate such as ``\\ud800`` cannot)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_CALL_DRIVER = """\
def _ring_driver():
    import json, os, sys
    marker = sys.stdin.readline().rstrip("\\n")
    args = [json.loads(line) for line in sys.stdin.read().split("\\n") if line.strip()]
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    scope = {{"__name__": "solution", "__builtins__": __builtins__}}
    exec(compile({source!r}, "solution.py", "exec"), scope)
    fn = scope.get({fn_name!r})
    if fn is None and isinstance(scope.get("Solution"), type):
        fn = getattr(scope["Solution"](), {fn_name!r})
    result = json.dumps(fn(*args), default=repr)
    sys.stdout.flush()
    os.write(1, ("\\n" + marker + result + "\\n").encode())


_ring_driver()
"""

_ASSERT_DRIVER = """\
def _ring_driver():
    import os, random, sys
    # the marker stays unread in a pipe on a random descriptor until the tests are over: no frame,
    # global or object of this process holds it while the solution or the tests run
    marker_fd = os.dup2(0, random.randrange(10, 60))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    guards = _ring_guards()
    scope = {{"__name__": "__main__", "__builtins__": __builtins__}}
    exec(compile({program!r}, "solution.py", "exec"), scope)
    scope.update(guards)  # after the solution ran: it cannot have replaced them
    exec(compile({tests!r}, "tests.py", "exec"), scope)
    try:
        sys.stdout.flush()
    except Exception:
        pass
    os.write(1, b"\\n" + os.read(marker_fd, 256).strip() + b"\\n")


def _ring_guards():
    # builtins captured before the solution runs (it may monkeypatch them)
    import operator

    _type, _len, _zip, _all, _bool = type, len, zip, all, bool
    order = {{"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}}
    num = (int, float, bool, complex)
    plain_types = (str, bytes, type(None)) + num

    def plain(x):
        t = _type(x)
        if t in plain_types:
            return True
        if t in (list, tuple, set, frozenset):
            return _all(plain(v) for v in x)
        if t is dict:
            return _all(plain(k) and plain(v) for k, v in x.items())
        return False

    def same(a, b):
        ta, tb = _type(a), _type(b)
        if ta in num and tb in num:
            return a == b
        if ta is not tb:
            return False
        if ta in (list, tuple):
            return _len(a) == _len(b) and _all(same(x, y) for x, y in _zip(a, b))
        if ta is dict:
            return plain(list(a)) and plain(list(b)) and a.keys() == b.keys() and _all(same(a[k], b[k]) for k in a)
        if ta in plain_types or ta in (set, frozenset):
            return plain(a) and plain(b) and a == b
        return _bool(a == b)  # two objects of one type the problem itself defines

    def compare(op, a, b):
        if op == "==":
            return same(a, b)
        if op == "!=":
            return not same(a, b)
        if op == "is":
            return a is b
        if op == "is not":
            return a is not b
        if not (plain(a) and plain(b)):
            return False
        if op in ("in", "not in"):
            return (a in b) == (op == "in")
        return order[op](a, b)

    def chain(ops, values):
        return _all(compare(op, values[i], values[i + 1]) for i, op in enumerate(ops))

    def truth(x):
        return plain(x) and _bool(x)

    def falsy(x):
        return plain(x) and not _bool(x)

    return {{"_ring_chain": chain, "_ring_truth": truth, "_ring_falsy": falsy}}


_ring_driver()
"""

_OPS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip


class _StrictCompares(ast.NodeTransformer):
    """Every comparison (nested ones too, e.g. inside ``all(f(x) == y for ...)``) -> ``_ring_chain``."""

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        ops = ast.Tuple(elts=[ast.Constant(_OPS[type(o)]) for o in node.ops], ctx=ast.Load())
        values = ast.List(elts=[node.left, *node.comparators], ctx=ast.Load())
        return _call("_ring_chain", [ops, values])


class _GuardAsserts(ast.NodeTransformer):
    """``assert`` conditions judged by strict helpers: comparisons and truth values count only for
    plain built-in values (so an object whose ``__eq__`` or ``__bool__`` always says yes fails)."""

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        node.test = self._guard(_StrictCompares().visit(node.test))
        return node

    def _guard(self, e: ast.expr) -> ast.expr:
        if isinstance(e, ast.BoolOp):
            return ast.BoolOp(op=e.op, values=[self._guard(v) for v in e.values])
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
            return _call("_ring_falsy", [e.operand])
        return _call("_ring_truth", [e])


def _call(name: str, args: list[ast.expr]) -> ast.expr:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[])


def guard_asserts(test_code: str) -> str:
    """``test_code`` with every assert condition routed through the strict helpers (raises
    SyntaxError for test code that does not parse)."""
    tree = _GuardAsserts().visit(ast.parse(test_code))
    return ast.unparse(ast.fix_missing_locations(tree))


def call_driver(program: str, fn_name: str) -> str:
    return _CALL_DRIVER.format(source=program, fn_name=fn_name)


def assert_driver(program: str, test_code: str) -> str:
    """The program, then its tests in the same globals (as if appended), asserts guarded."""
    return _ASSERT_DRIVER.format(program=program, tests=guard_asserts(test_code))


def marker_value(stdout: str, marker: str) -> str | None:
    """What follows the marker on the last line that starts with it (None when it never appeared)."""
    for line in reversed(stdout.split("\n")):
        if line.startswith(marker):
            return line[len(marker) :]
    return None
