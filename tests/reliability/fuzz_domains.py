"""Per-domain fuzz profiles: malformed references, domain-flavoured hostile responses, and valid
cases with a known correct answer (for the metamorphic properties).

Every built-in domain of ``verifiers.registry`` has a :class:`Profile` here; the test suite fails when
a domain is registered without one, so a new domain is fuzzed from its first day.
"""

from __future__ import annotations

import random
import string
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from typing import Any

from fuzz_text import (
    LATEX_TOKENS,
    hostile_text,
    huge_number,
    json_like,
    latex_soup,
    malformed_reference,
    nested,
    unicode_text,
)
from hypothesis import strategies as st

from verifiers.games import arc, countdown, knights_knaves, maze, sudoku
from verifiers.games.common import grid_text
from verifiers.ifeval import CHECKS, RELATIONS


@dataclass(frozen=True)
class Case:
    """A valid reference, an answer the domain must accept, and the options of the call."""

    reference: Any
    answer: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    keys: list[str]  # the reference's fields (the malformed references use them)
    valid: st.SearchStrategy[Case]  # a valid reference with a correct answer
    flavour: st.SearchStrategy[str]  # domain-shaped junk: what the domain's parser reads
    # ways of stating an answer that must keep a correct answer correct
    wrappers: list[tuple[str, Callable[[str], str]]]
    valid_options: st.SearchStrategy[dict[str, Any]] = st.just({})


def _boxed(a: str) -> str:
    return f"\\boxed{{{a}}}"


def _tag(a: str) -> str:
    return f"<answer>{a}</answer>"


def _think(a: str) -> str:
    return f"<think>Let me check {{ [ ( \\boxed{{0}} </answer> carefully.</think>\n{a}"


STATED = [
    ("boxed", _boxed),
    ("answer_is", lambda a: f"So the answer is {a}"),
    ("answer_is_boxed", lambda a: f"The answer is \\boxed{{{a}}}."),
    ("tag", _tag),
    (
        "final_answer",
        lambda a: f"Step 1... Step 2.\nFinal Answer: The final answer is ${a}$. I hope it is correct.",
    ),
    ("think_boxed", lambda a: _think(_boxed(a))),
    ("boxed_then_prose", lambda a: f"We find \\boxed{{{a}}}, as required."),
]
GAME_WRAPPERS = [
    ("bare", lambda a: a),
    ("tag", _tag),
    ("boxed", _boxed),
    ("think_tag", lambda a: _think(_tag(a))),
    ("prose_then_tag", lambda a: f"Here is my work.\n\n<answer>\n{a}\n</answer>"),
]
ONE_LINE_GAME_WRAPPERS = [*GAME_WRAPPERS, ("answer_is", lambda a: f"The answer is {a}")]


# ---- math ----------------------------------------------------------------------------------------
def _decimal(fr: Fraction) -> str | None:
    """The exact decimal of ``fr`` when it has one of at most 6 digits after the point."""
    for places in range(7):
        scaled = fr * 10**places
        if scaled.denominator == 1:
            n = abs(scaled.numerator)
            whole, frac = divmod(n, 10**places)
            sign = "-" if fr < 0 else ""
            return f"{sign}{whole}" + (f".{frac:0{places}d}" if places else "")
    return None


def _latex_fraction(fr: Fraction, cmd: str = "\\frac") -> str:
    sign = "-" if fr < 0 else ""
    return f"{sign}{cmd}{{{abs(fr.numerator)}}}{{{fr.denominator}}}"


@st.composite
def math_case(draw) -> Case:
    """A numeric reference and an equivalent answer written another way (or the same way)."""
    kind = draw(st.sampled_from(["int", "fraction", "thousands", "sqrt", "pi", "text", "tuple"]))
    if kind == "int":
        n = draw(st.integers(-(10**12), 10**12))
        gold, preds = str(n), [str(n), f"{n}.0", f"\\frac{{{2 * n}}}{{2}}"]
    elif kind == "fraction":
        fr = Fraction(draw(st.integers(-999, 999)), draw(st.integers(1, 999)))
        gold = _latex_fraction(fr) if fr.denominator != 1 else str(fr.numerator)
        preds = [gold, _latex_fraction(fr, "\\dfrac"), f"{fr.numerator}/{fr.denominator}"]
        if _decimal(fr):
            preds.append(_decimal(fr))
    elif kind == "thousands":
        n = draw(st.integers(1000, 10**9))
        gold, preds = str(n), [f"{n:,}", f"{n:,}".replace(",", "{,}"), f"{n:,}".replace(",", "\\,")]
    elif kind == "sqrt":
        a, b = draw(st.integers(2, 50)), draw(st.sampled_from([2, 3, 5, 6, 7]))
        gold, preds = f"{a}\\sqrt{{{b}}}", [f"{a}\\sqrt{{{b}}}", f"\\sqrt{{{a * a * b}}}"]
    elif kind == "pi":
        a = draw(st.integers(2, 50))
        gold, preds = f"{a}\\pi", [f"{a}\\pi", f"\\pi \\cdot {a}"]
    elif kind == "text":
        gold = draw(st.sampled_from(["Monday", "Evelyn", "red car", "impossible", "blue"]))
        preds = [gold, gold.upper(), f"\\text{{{gold}}}"]
    else:
        a, b = draw(st.integers(-99, 99)), draw(st.integers(-99, 99))
        gold, preds = f"({a}, {b})", [f"({a},{b})", f"\\left({a}, {b}\\right)"]
    ref = draw(st.sampled_from([{"answer": gold}, gold]))
    if kind == "int" and draw(st.booleans()):
        ref = int(gold)  # a bare number is a reference too
    return Case(ref, draw(st.sampled_from(preds)))


@st.composite
def math_numeric_pair(draw) -> tuple[str, str, float, float]:
    """(reference, answer, their values) for the whitespace property: integers, decimals, fractions,
    roots; the answer has the same value half the time."""
    fr = Fraction(draw(st.integers(-(10**6), 10**6)), draw(st.sampled_from([1, 1, 2, 3, 4, 7, 8, 125])))
    other = fr + draw(st.sampled_from([0, 0, 1, Fraction(1, 3), -2]))
    form = draw(st.sampled_from(["frac", "decimal", "sqrt", "neg_frac"]))

    def write(x: Fraction) -> tuple[str, float]:
        if form == "decimal" and _decimal(x):
            return _decimal(x), float(x)
        if form == "sqrt":
            return f"{x.numerator}\\sqrt{{{x.denominator + 1}}}", x.numerator * (x.denominator + 1) ** 0.5
        if x.denominator == 1 and form != "neg_frac":
            return str(x.numerator), float(x)
        return _latex_fraction(x), float(x)

    (gold, gv), (pred, pv) = write(fr), write(other)
    return gold, pred, gv, pv


# ---- science -------------------------------------------------------------------------------------
_UNITS = [("J", "kJ", 1e3), ("m", "km", 1e3), ("g", "kg", 1e3), ("W", "kW", 1e3), ("s", "ms", 1e-3)]


@st.composite
def science_case(draw) -> Case:
    if draw(st.booleans()):  # multiple choice
        n = draw(st.integers(2, 10))
        words = draw(
            st.lists(st.sampled_from(["water", "fire", "air", "earth", "iron", "neon"] * 2), min_size=0)
        )
        choices = [f"{w} {i}" for i, w in enumerate((words + ["option"] * n)[:n])]
        k = draw(st.integers(0, n - 1))
        letter = string.ascii_uppercase[k]
        ref = draw(
            st.sampled_from(
                [{"answer": letter, "choices": choices}, {"answer": choices[k], "choices": choices}]
            )
        )
        answer = draw(st.sampled_from([letter, f"({letter})", f"{letter})", f"Option {letter}", choices[k]]))
        return Case(ref, answer)
    base, big, factor = draw(st.sampled_from(_UNITS))
    mantissa = draw(st.integers(1, 9999)) / 100
    exp = draw(st.integers(-6, 9))
    value = mantissa * 10.0**exp
    ref = {"answer": f"{value:.6g}", "unit": base}
    answers = [
        f"{value:.6g} {base}",
        f"{value:.6g}",
        f"{value / factor:.6g} {big}",
        f"{mantissa} \\times 10^{{{exp}}} {base}",
    ]
    return Case(ref, draw(st.sampled_from(answers)))


# ---- games ----------------------------------------------------------------------------------------
@cache
def _game_row(game: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    gen = {
        "countdown": countdown,
        "sudoku": sudoku,
        "maze": maze,
        "arc": arc,
        "knights_knaves": knights_knaves,
    }
    params = {"sudoku": {"size": 4 if seed % 3 == 0 else 9, "blanks": 30 + seed % 20}}.get(game, {})
    return gen[game].generate(rng, **params)


def _maze_moves(grid: list[str], start: list[int], goal: list[int]) -> str:
    """A shortest path as moves (BFS), for the maze's correct answers."""
    prev: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {tuple(start): None}
    q = deque([tuple(start)])
    while q:
        cell = q.popleft()
        if cell == tuple(goal):
            break
        for move, (dr, dc) in {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            inside = 0 <= nxt[0] < len(grid) and 0 <= nxt[1] < len(grid[0])
            if inside and grid[nxt[0]][nxt[1]] != "#" and nxt not in prev:
                prev[nxt] = (cell, move)
                q.append(nxt)
    moves, cell = [], tuple(goal)
    while prev[cell] is not None:
        cell, move = prev[cell]
        moves.append(move)
    return " ".join(reversed(moves))


def game_case(game: str) -> st.SearchStrategy[Case]:
    def build(seed: int) -> Case:
        row = _game_row(game, seed)
        ref, meta = row["reference"], row.get("meta", {})
        if game == "countdown":
            answer = meta["example_solution"]
        elif game == "sudoku":
            answer = grid_text(meta["solution"])
        elif game == "maze":
            answer = _maze_moves(ref["grid"], ref["start"], ref["goal"])
        elif game == "arc":
            answer = grid_text(ref["output"])
        else:
            answer = ", ".join(f"{n} is a {r}" for n, r in ref["solution"].items())
        return Case(ref, answer)

    return st.integers(0, 199).map(build)


# ---- ifeval ---------------------------------------------------------------------------------------
_KWARG_VALUES = {
    "int": st.integers(0, 60),
    "str": st.one_of(
        st.sampled_from(["ai", "P.S.", "Section", "the end", "en", "fr", "<<x>>"]),
        unicode_text(12).filter(bool),
    ),
    "relation": st.sampled_from(RELATIONS),
    "list[str]": st.lists(
        st.one_of(st.sampled_from(["ai", "C++", "e.g."]), unicode_text(8).filter(bool)),
        min_size=1,
        max_size=3,
    ),
}


@st.composite
def ifeval_reference(draw, big: bool = False) -> dict[str, Any]:
    """A well-formed reference (every kwarg of the right type) over random instruction ids; ``big``:
    counts up to 10^12 and kwargs of hostile text."""
    values = dict(_KWARG_VALUES)
    if big:
        values["int"] = st.one_of(st.integers(0, 3), st.integers(0, 10**12))
        values["str"] = st.one_of(
            values["str"], st.sampled_from(["(", "\\", ".*", "[a-z]+", "\x00"]), hostile_text(40).filter(bool)
        )
    items = []
    for iid in draw(st.lists(st.sampled_from(sorted(CHECKS)), min_size=1, max_size=4)):
        _, spec, _optional = CHECKS[iid]
        kwargs = {name: draw(values[kind]) for name, kind in spec.items()}
        if "letter" in kwargs:
            kwargs["letter"] = draw(st.sampled_from("abcxyz#é "))
        items.append({"id": iid, "kwargs": kwargs})
    if draw(st.booleans()):
        return {"instructions": items}
    return {"instruction_id_list": [i["id"] for i in items], "kwargs": [i["kwargs"] for i in items]}


@st.composite
def ifeval_case(draw) -> Case:
    """Instructions a generated answer follows by construction."""
    words = draw(
        st.lists(st.sampled_from(["alpha", "beta", "gamma", "river", "stone"]), min_size=5, max_size=30)
    )
    keyword = draw(st.sampled_from(["river", "stone"]))
    end = "Is there anything else I can help with?"
    text = " ".join(words) + f" {keyword}. {end}"
    instructions = [
        {"id": "keywords:existence", "kwargs": {"keywords": [keyword]}},
        {"id": "punctuation:no_comma", "kwargs": {}},
        {"id": "startend:end_checker", "kwargs": {"end_phrase": end}},
        {
            "id": "length_constraints:number_words",
            "kwargs": {"num_words": len(words), "relation": "at least"},
        },
    ]
    chosen = draw(
        st.lists(st.sampled_from(instructions), min_size=1, max_size=4, unique_by=lambda i: i["id"])
    )
    return Case({"instructions": chosen}, text)


# ---- code -----------------------------------------------------------------------------------------
_CODE_REFS = [
    {
        "language": "python",
        "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 7\n", "output": "12\n"}],
    },
    {"language": "python", "fn_name": "add", "tests": [{"input": "1\n2", "output": "3"}]},
    {"language": "python", "test_code": "assert add(2, 3) == 5\nassert add(-1, 1) == 0"},
    {"inputs": ["4 4\n"], "outputs": ["8\n"]},
]
_CODE_ANSWERS = {
    0: "```python\nprint(sum(map(int, input().split())))\n```",
    1: "```python\ndef add(a, b):\n    return a + b\n```",
    2: "```python\ndef add(a, b):\n    return a + b\n```",
    3: "```py\na, b = map(int, input().split())\nprint(a + b)\n```",
}


@st.composite
def code_case(draw) -> Case:
    i = draw(st.integers(0, len(_CODE_REFS) - 1))
    return Case(_CODE_REFS[i], _CODE_ANSWERS[i])


def _fenced(body: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    tag = st.sampled_from(["python", "py", "cpp", "java", "", "rust", "Python3"])
    return st.tuples(tag, body).map(lambda p: f"```{p[0]}\n{p[1]}\n```")


# ---- the profiles -------------------------------------------------------------------------------
def _grid_soup() -> st.SearchStrategy[str]:
    cell = st.one_of(
        st.integers(-3, 20).map(str), st.sampled_from(["[", "]", ",", "|", " ", "\n", "-", "+", "\\\\"])
    )
    return st.lists(cell, max_size=200).map("".join)


_MOVES = st.lists(
    st.sampled_from(["U", "D", "L", "R", "up", "North", "west", " ", ",", "[1, 2]", "[", "]", "it's"]),
    max_size=80,
).map(" ".join)

PROFILES: dict[str, Profile] = {
    "math": Profile(["answer"], math_case(), st.one_of(latex_soup(), nested()), STATED,
                    st.sampled_from([{}, {"boxes": "first"}, {"boxes": "all"}, {"float_rounding": 3}])),
    "science": Profile(["answer", "choices", "unit", "rel_tol"], science_case(), latex_soup(), STATED,
                       st.sampled_from([{}, {"box": "first"}])),
    "countdown": Profile(["numbers", "target"], game_case("countdown"),
                         st.lists(st.sampled_from(list("0123456789+-*/()x= ") + ["\\times", "\\div", "**", "//", "{", "}"]), max_size=120).map("".join),
                         ONE_LINE_GAME_WRAPPERS, st.sampled_from([{}, {"use_all": True}])),
    "sudoku": Profile(["puzzle"], game_case("sudoku"), _grid_soup(), GAME_WRAPPERS),
    "maze": Profile(["grid", "start", "goal"], game_case("maze"), _MOVES, ONE_LINE_GAME_WRAPPERS,
                    st.sampled_from([{}, {"shortest": True}])),
    "arc": Profile(["output"], game_case("arc"), _grid_soup(), GAME_WRAPPERS),
    "knights_knaves": Profile(["solution"], game_case("knights_knaves"),
                              st.lists(st.sampled_from(knights_knaves.NAMES[:5] + [" is a ", "knight", "knaves", " and ", " are ", " not ", ",", ":", "(", " "]), max_size=60).map("".join),
                              ONE_LINE_GAME_WRAPPERS),
    "ifeval": Profile(["instructions", "instruction_id_list", "kwargs"], ifeval_case(), unicode_text(400),
                      [("bare", lambda a: a), ("think", lambda a: f"<think>plan, plan</think>\n\n{a}"),
                       ("spaces", lambda a: f"  \n{a}\n\t ")],
                      st.sampled_from([{}, {"loose": True}, {"convention": "natural"}])),
    "code": Profile(["language", "tests", "fn_name", "test_code", "inputs", "outputs", "time_limit", "memory_limit_mb", "float_tol"],
                    code_case(), _fenced(st.one_of(latex_soup(20), unicode_text(60))),
                    [("bare", lambda a: a), ("think", lambda a: f"<think>```python\nprint(0)\n```</think>\n{a}"),
                     ("prose", lambda a: f"Here is the program:\n\n{a}\n\nIt reads the input and prints the sum.")]),
}  # fmt: skip


# ---- references at the edge: well-formed, with extreme or hostile content -------------------------
_HOSTILE_ANSWER = st.one_of(huge_number(), nested(200), latex_soup(20), unicode_text(40))
_ODD_NAMES = [
    "A.B",
    "(x)",
    "[",
    "\\",
    "Al",
    "Alice",
    "knight",
    "is",
    "Zoë",
    "李",
    "a" * 200,
    "Ben\u200f",
    "*",
]


def _edge_maze(args) -> dict[str, Any]:
    rows, cols, wall_every, start, goal = args
    grid = [
        "".join("#" if wall_every and (r * cols + c) % wall_every == 0 else "." for c in range(cols))
        for r in range(rows)
    ]
    start, goal = [start % rows, 0], [goal % rows, cols - 1]
    for r, c in (start, goal):
        grid[r] = grid[r][:c] + "." + grid[r][c + 1 :]
    return {"grid": grid, "start": start, "goal": goal}


EDGE_REFERENCES: dict[str, st.SearchStrategy[Any]] = {
    "math": _HOSTILE_ANSWER.map(lambda a: {"answer": a}),
    "science": st.one_of(
        st.fixed_dictionaries(
            {"answer": st.one_of(_HOSTILE_ANSWER, st.sampled_from(["1e308", "1e-320", "-0", "0", "3.2e5", "1e999"]))},
            optional={
                "unit": st.sampled_from(["J", "m/s^2", "degC", "%", "kJ/mol", "\\mu m", "μm", "1/s", "", "°C", "ohm"]),
                "rel_tol": st.sampled_from([0, 0.0, 0.999999, 1e-300, 0.5]),
            },
        ),
        st.fixed_dictionaries(
            {"answer": st.sampled_from(["A", "J", "(B)", "water"]), "choices": st.lists(unicode_text(20), min_size=1, max_size=12)}
        ),
    ),
    "countdown": st.fixed_dictionaries(
        {"numbers": st.lists(st.one_of(st.integers(0, 10), st.integers(0, 10**30)), min_size=1, max_size=9),
         "target": st.one_of(st.integers(-(10**6), 10**6), st.integers(-(10**40), 10**40))}
    ),
    "sudoku": st.sampled_from([4, 9, 16]).flatmap(
        lambda n: st.lists(st.lists(st.integers(0, n), min_size=n, max_size=n), min_size=n, max_size=n)
    ).map(lambda p: {"puzzle": p}),
    "maze": st.tuples(st.integers(1, 60), st.integers(1, 60), st.integers(0, 7), st.integers(0, 99), st.integers(0, 99)).map(_edge_maze),
    "arc": st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(0, 9)).map(lambda t: {"output": [[t[2]] * t[1]] * t[0]}),
    "knights_knaves": st.dictionaries(st.one_of(st.sampled_from(_ODD_NAMES), unicode_text(12).filter(str.strip)), st.sampled_from(["knight", "knave", " Knight ", "KNAVE"]), min_size=1, max_size=30).map(lambda s: {"solution": s}),
    "ifeval": ifeval_reference(big=True),
    "code": st.fixed_dictionaries(
        {"tests": st.lists(st.fixed_dictionaries({"input": unicode_text(30), "output": unicode_text(30)}), min_size=1, max_size=3)},
        optional={"float_tol": st.sampled_from([0, 0.999, 1e-300]), "time_limit": st.sampled_from([0.001, 1, 600]), "language": st.sampled_from(["python", "py", "Python3"])},
    ),
}  # fmt: skip


def valid_references(domain: str) -> st.SearchStrategy[Any]:
    """References the domain accepts (and well-formed ones with extreme content): every hostile
    response then reaches the domain's answer parsing."""
    prof = PROFILES[domain]
    valid = prof.valid.map(lambda c: c.reference)
    if domain == "ifeval":
        valid = st.one_of(valid, ifeval_reference())
    return st.one_of(valid, valid, EDGE_REFERENCES[domain])


def bad_references(domain: str) -> st.SearchStrategy[Any]:
    """Domain-specific malformed references and generic junk."""
    bad = st.one_of(malformed_reference(PROFILES[domain].keys), json_like())
    if domain == "code":  # valid references whose limits or tests are wrong
        bad = st.one_of(bad, st.sampled_from(_CODE_REFS).flatmap(_code_ref_damage))
    return bad


def references(domain: str) -> st.SearchStrategy[Any]:
    return st.one_of(valid_references(domain), bad_references(domain))


def _code_ref_damage(ref: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    key = st.sampled_from(
        ["time_limit", "memory_limit_mb", "float_tol", "language", "fn_name", "test_code", "tests"]
    )
    value = st.one_of(
        json_like(), st.sampled_from([float("inf"), float("nan"), -1, 0, 10**400, "1e999", [[1]]])
    )
    return st.tuples(key, value).map(lambda kv: {**ref, kv[0]: kv[1]})


def responses(domain: str) -> st.SearchStrategy[str]:
    """Hostile text, the domain's own kind of junk, hostile text where the answer goes, and correct
    answers with junk around them."""
    prof = PROFILES[domain]
    junk = st.one_of(hostile_text(), prof.flavour)
    as_answer = st.one_of(huge_number(), nested(), prof.flavour, latex_soup(12))
    wrap = st.sampled_from([w for _, w in prof.wrappers])
    wrapped = st.tuples(wrap, st.one_of(junk, as_answer)).map(lambda p: p[0](p[1]))
    spliced = st.tuples(junk, prof.valid, junk).map(lambda p: f"{p[0]}{p[1].answer}{p[2]}")
    not_text = st.sampled_from([None, b"\\boxed{1}", 5, 1.5, ["\\boxed{1}"], {"answer": "1"}])
    return st.one_of(
        junk, wrapped, wrapped, spliced, st.tuples(wrap, as_answer).map(lambda p: p[0](p[1])), not_text
    )


@st.composite
def long_responses(draw, domain: str, chars: int) -> str:
    """A short piece repeated to about ``chars`` characters, alone or where the answer goes: what
    makes a scan that restarts at every repeat (an unclosed ``\\boxed{``, ``<answer>``, ``]]``, a
    name list, a run of "-" for a parser) quadratic."""
    prof = PROFILES[domain]
    expression = st.text(alphabet="0123456789+-*/^(){}[]., ", min_size=1, max_size=4)  # what parses
    pieces = st.one_of(
        latex_soup(6), prof.flavour.map(lambda t: t[:40]), st.sampled_from(LATEX_TOKENS), expression
    )
    piece = draw(pieces.filter(bool))
    text = piece * (chars // len(piece) + 1)
    _, wrap = draw(st.sampled_from(prof.wrappers))
    return draw(st.sampled_from([text, wrap(text), text + wrap(piece)]))
