"""``knights_knaves``: the answer's knight/knave assignment must equal the reference solution.

Accepted phrasings (case-insensitive; the last statement about a person wins): "Zoey is a knight",
"Zoey: knave", "Zoey - knight", lists like "(1) Zoey is a knight (2) ...", "Therefore: Zoey is a knave
and Max is a knight", "Zoey and Max are knights". Every person must be assigned.

Puzzles that call the two kinds by other words ("heroes and villains", as reasoning-gym's do) say so in
the reference: ``"terms": {"knight": "hero", "knave": "villain"}``; the answer is then read in those
words only (plural ``-s``/``-es`` too), and the solution may use either pair.
"""

from __future__ import annotations

import itertools
import random
import re
from typing import Any

from ..common import clip, invalid_reference, no_answer
from ..registry import ReferenceCheck, register, register_reference_check
from ..result import Status, VerifyResult
from .common import game_answer

ROLES = ("knight", "knave")
NAMES = [
    "Alice", "Ben", "Chloe", "David", "Emma", "Finn", "Grace", "Henry", "Isla", "Jack", "Kate", "Liam",
    "Mia", "Noah", "Olivia", "Peter", "Quinn", "Ruby", "Sam", "Zoey",
]  # fmt: skip


def _terms(reference: Any) -> tuple[str, str] | None:
    """The words the puzzle uses for (knight, knave): ``reference["terms"]`` or the plain ones."""
    t = reference.get("terms") if isinstance(reference, dict) else None
    if t is None:
        return ROLES
    if not isinstance(t, dict):
        return None
    words = (t.get("knight"), t.get("knave"))
    if not all(isinstance(w, str) and re.fullmatch(r"[A-Za-z]+", w.strip()) for w in words):
        return None
    knight, knave = (w.strip().lower() for w in words)
    return (knight, knave) if knight != knave else None


def _solution(reference: Any, terms: tuple[str, str] = ROLES) -> dict[str, str] | None:
    s = reference.get("solution") if isinstance(reference, dict) else None
    if not isinstance(s, dict) or not s:
        return None
    out = {}
    for name, role in s.items():
        if not isinstance(name, str) or not name.strip() or not isinstance(role, str):
            return None
        role = role.strip().lower()
        if role in terms:  # the puzzle's own words for the two kinds
            role = ROLES[terms.index(role)]
        if role not in ROLES:
            return None
        out[name.strip()] = role
    return out


def read_assignment(answer: str, names: list[str], terms: tuple[str, str] = ROLES) -> dict[str, str]:
    """{name: role} from the answer text, for the names it mentions; ``terms`` are the answer's words
    for (knight, knave)."""
    found: dict[str, tuple[int, str]] = {}
    alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    role_re = rf"((?:{re.escape(terms[0])}|{re.escape(terms[1])})(?:e?s)?)"
    knight_forms = {terms[0], terms[0] + "s", terms[0] + "es"}
    # "A is a knight", "A: knave", "A - knight", "A (knight)", "A was a knave"
    single = re.compile(rf"\b({alt})\b\s*(?:is|was|=|:|-|–|\()?\s*(?:a|an|the)?\s*{role_re}\b", re.IGNORECASE)
    # "A and B are knights", "A, B and C are knaves": a run of names read once (possessive: a regex that
    # backtracks into the run retries every name of a long run that ends in no role, quadratic), then
    # the role right after it
    run = re.compile(rf"\b(?:(?:{alt})\s*(?:,|\band\b|&)?\s*)++", re.IGNORECASE)
    group_role = re.compile(rf"\s*(?:are|were)\s*(?:both|all)?\s*{role_re}\b", re.IGNORECASE)
    # "A is not a knight" -> knave
    negated = re.compile(rf"\b({alt})\b\s*(?:is|was)\s+not\s+(?:a|an)?\s*{role_re}\b", re.IGNORECASE)
    lower = {n.lower(): n for n in names}

    def put(name: str, pos: int, word: str, flip: bool = False) -> None:
        role = "knight" if word.lower() in knight_forms else "knave"
        if flip:
            role = "knave" if role == "knight" else "knight"
        key = lower[name.lower()]
        if key not in found or found[key][0] <= pos:  # the last statement about a person wins
            found[key] = (pos, role)

    for m in negated.finditer(answer):
        put(m.group(1), m.start(), m.group(2), flip=True)
    for m in single.finditer(answer):
        put(m.group(1), m.start(), m.group(2))
    for m in run.finditer(answer):
        role = group_role.match(answer, m.end())
        if role:
            for n in re.findall(rf"\b({alt})\b", m.group(), re.IGNORECASE):
                put(n, m.start(), role.group(1))
    return {n: r for n, (_, r) in found.items()}


@register("knights_knaves")
def verify_knights_knaves(
    response: str, reference: Any, *, box: str = "last", **_ignored: Any
) -> VerifyResult:
    terms = _terms(reference)
    sol = _solution(reference, terms) if terms else None
    if sol is None:
        return invalid_reference(
            "knights_knaves reference needs 'solution': {name: 'knight'|'knave'} "
            "(and optional 'terms': {'knight': word, 'knave': another word})"
        )
    answer, source = game_answer(response, box)
    if not answer:
        return no_answer(source)
    got = read_assignment(answer, list(sol), terms)
    if not got:
        return VerifyResult.make(
            Status.NO_ANSWER, extracted=clip(answer), reason="no knight/knave assignment found"
        )
    extracted = ", ".join(f"{n}: {r}" for n, r in got.items())
    missing = [n for n in sol if n not in got]
    if missing:
        return VerifyResult.make(
            Status.WRONG, extracted=extracted, reason=f"no role given for {', '.join(missing)}"
        )
    wrong = [n for n in sol if got[n] != sol[n]]
    if wrong:
        return VerifyResult.make(
            Status.WRONG, extracted=extracted, reason=f"wrong role for {', '.join(wrong)}"
        )
    return VerifyResult.make(Status.CORRECT, extracted=extracted, reason="every role is right")


@register_reference_check("knights_knaves")
def check_knights_knaves_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    terms = _terms(reference)
    sol = _solution(reference, terms) if terms else None
    if sol is None:
        return ReferenceCheck(
            False,
            "invalid_reference",
            {"error": "'solution' must map names to knight/knave; 'terms' to two different words"},
        )
    if len({n.lower() for n in sol}) != len(sol):
        return ReferenceCheck(
            False, "invalid_reference", {"error": "two people share a name (case-insensitive)"}
        )
    return ReferenceCheck(True, "", {"people": len(sol)})


# statements: (text template, truth function over the assignment {name: is_knight})
def _statement(rng: random.Random, speaker: str, others: list[str]):
    x, y = rng.sample(others, 2) if len(others) >= 2 else (others[0], others[0])
    kind = rng.randrange(5)
    if kind == 0:
        role = rng.choice(ROLES)
        return f"{x} is a {role}", lambda a: a[x] == (role == "knight")
    if kind == 1:
        return f"{x} and {y} are both knights", lambda a: a[x] and a[y]
    if kind == 2:
        return f"{x} is a knight or {y} is a knave", lambda a: a[x] or not a[y]
    if kind == 3:
        return f"{x} and I are of the same kind", lambda a: a[x] == a[speaker]
    return f"exactly one of {x} and {y} is a knave", lambda a: a[x] != a[y]


def generate(rng: random.Random, *, people: int = 3) -> dict[str, Any]:
    """A puzzle whose statements admit exactly one assignment (checked by brute force over 2^n)."""
    while True:
        names = rng.sample(NAMES, people)
        stmts = [(s, *_statement(rng, s, [n for n in names if n != s])) for s in names]
        sols = []
        for bits in itertools.product([True, False], repeat=people):
            a = dict(zip(names, bits))
            if all(a[s] == truth(a) for s, _, truth in stmts):
                sols.append(a)
        if len(sols) == 1:
            break
    lines = "\n".join(f'{s} says: "{text}."' for s, text, _ in stmts)
    prompt = (
        "On an island, knights always tell the truth and knaves always lie. You meet "
        f"{', '.join(names[:-1])} and {names[-1]}.\n{lines}\n"
        "Who is a knight and who is a knave? Answer like 'Alice is a knight, Ben is a knave'."
    )
    solution = {n: "knight" if sols[0][n] else "knave" for n in names}
    return {"prompt": prompt, "reference": {"solution": solution}, "meta": {"people": people}}
