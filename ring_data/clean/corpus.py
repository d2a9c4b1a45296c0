"""Seeded synthetic corpora of short math problems with known duplicate clusters.

Used by the tests and ``benchmarks/clean.py`` to measure precision and recall of dedup and
decontamination, and by users to check settings before a real run. Every row carries its ground
truth in ``meta``: ``cluster`` (rows with the same cluster are the same problem) and ``kind``:

- ``original``: a problem (15-50 words, 1-4 numbers, sometimes a LaTeX expression);
- ``format``: the same problem with whitespace, case, LaTeX spacing / wrapper and punctuation changes
  (an exact duplicate after normalisation);
- ``edit``: up to ``max_edit_frac`` of its words substituted, inserted or deleted (numbers untouched),
  sometimes also reformatted (a near duplicate);
- ``template``: the same words with other numbers: a *different* problem with its own cluster.
"""

from __future__ import annotations

import hashlib
import mmap
import random
from array import array
from pathlib import Path
from typing import Any

_FUNCTION_WORDS = [
    "the",
    "of",
    "a",
    "is",
    "what",
    "find",
    "how",
    "many",
    "if",
    "and",
    "to",
    "in",
    "for",
    "that",
    "with",
    "by",
    "from",
    "its",
    "be",
    "are",
    "an",
    "on",
    "at",
    "as",
    "each",
    "there",
    "then",
    "value",
    "number",
    "total",
    "sum",
    "what's",
    "all",
    "when",
    "this",
    "after",
    "which",
    "has",
    "have",
    "her",
    "his",
    "their",
    "than",
    "more",
    "less",
    "per",
    "every",
    "some",
    "one",
    "two",
    "three",
    "remaining",
    "left",
    "does",
    "do",
    "many",
    "much",
]
_DOMAINS = ("math", "science", "code")
_SEP = "\x1f"  # joins a problem's words into one string (no word contains it)
_UNITS = ["kg", "m", "s", "J", "N", "W", "Pa", "K", "mol", "V", "A", "Hz", "m/s", "km", "g", "L", "eV"]
_QUANTITY = {
    "J": "energy",
    "N": "force",
    "W": "power",
    "Pa": "pressure",
    "K": "temperature",
    "V": "voltage",
    "A": "current",
    "Hz": "frequency",
    "m/s": "speed",
    "s": "time",
    "eV": "energy",
    "mol": "amount",
}
_SCIENCE_OPENERS = ["A", "Consider a", "Suppose a", "In an experiment, a", "A student measures a"]
_SCIENCE_WORDS = [
    "mass",
    "velocity",
    "force",
    "energy",
    "temperature",
    "pressure",
    "volume",
    "charge",
    "current",
    "resistance",
    "wavelength",
    "frequency",
    "density",
    "acceleration",
    "distance",
    "gas",
    "particle",
    "block",
    "spring",
    "circuit",
    "sample",
    "solution",
    "reaction",
    "heat",
    "work",
    "power",
    "field",
    "plate",
    "electron",
    "photon",
    "container",
    "piston",
    "wire",
    "lens",
    "incline",
    "friction",
]
_CODE_OPENERS = ["Write a program that", "Given", "You are given", "Implement a program that", "Read"]
_CODE_WORDS = [
    "array",
    "integers",
    "string",
    "query",
    "queries",
    "sum",
    "maximum",
    "minimum",
    "print",
    "output",
    "input",
    "line",
    "lines",
    "index",
    "element",
    "elements",
    "subarray",
    "sorted",
    "pairs",
    "count",
    "modulo",
    "test",
    "cases",
    "number",
    "first",
    "second",
    "contains",
    "separated",
    "space",
    "answer",
    "grid",
    "graph",
    "edges",
    "nodes",
    "path",
    "prefix",
    "distinct",
]
_CODE_TAIL = [
    "Input:",
    "the",
    "first",
    "line",
    "contains",
    "n,",
    "the",
    "second",
    "line",
    "n",
    "integers.",
    "Output:",
    "print",
    "the",
    "answer.",
]
_OPENERS = ["Find", "Compute", "What is", "Determine", "Calculate", "How many", "Evaluate", "Suppose"]
_SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "da",
    "de",
    "di",
    "do",
    "du",
    "ka",
    "ke",
    "ki",
    "ko",
    "ku",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ne",
    "ni",
    "no",
    "nu",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "su",
    "ta",
    "te",
    "ti",
    "to",
    "tu",
    "va",
    "ve",
    "vi",
    "vo",
    "vu",
    "za",
    "ze",
    "zi",
    "zo",
    "zu",
]


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class _Gen:
    def __init__(self, seed: int, vocab_size: int = 6000):
        self.rng = random.Random(seed)
        self.vocab = _vocabulary(random.Random(seed ^ 0x5EED), vocab_size)
        self.edit_words = self.vocab + _FUNCTION_WORDS

    def number(self) -> str:
        return str(self.rng.choice([self.rng.randint(2, 20), self.rng.randint(2, 999)]))

    def latex(self) -> str:
        r, n = self.rng, self.number
        x = r.choice("xyzn")
        return r.choice(
            [
                f"${n()}{x} + {n()} = {n()}$",
                f"$\\frac{{{n()}}}{{{n()}}} + {n()}$",
                f"${x}^2 - {n()}{x} + {n()} = 0$",
                f"$\\sqrt{{{n()}}} \\cdot {n()}$",
                f"$({x} + {n()})({x} - {n()})$",
            ]
        )

    def problem(self) -> list[str]:
        """Word list (numbers and LaTeX are single items) of a new problem."""
        r = self.rng
        n_words = r.randint(15, 50)
        words = r.choice(_OPENERS).split()
        n_numbers = r.randint(1, 4)
        number_at = set(r.sample(range(2, n_words), min(n_numbers, n_words - 2)))
        for i in range(len(words), n_words):
            if i in number_at:
                words.append(self.number())
            elif r.random() < 0.4:
                words.append(r.choice(_FUNCTION_WORDS))
            else:
                words.append(r.choice(self.vocab))
        if r.random() < 0.35:
            words.insert(r.randint(2, len(words)), self.latex())
        return words

    def quantity(self) -> str:
        """A science quantity in LaTeX, e.g. ``$v_{0} = 12\\,\\mathrm{m/s}$``."""
        r = self.rng
        return f"${r.choice('vFEPTmqI')}_{{{r.randint(0, 3)}}} = {self.number()}\\,\\mathrm{{{r.choice(_UNITS)}}}$"

    def bound(self) -> str:
        """A code task's input bound in LaTeX, e.g. ``$1 \\le n \\le 10^{5}$``."""
        r = self.rng
        return f"$1 \\le {r.choice('nmqk')} \\le {self.number()}^{{{r.randint(2, 9)}}}$"

    def _words(
        self, n_words: int, n_numbers: int, start: list[str], topic: list[str], unit: bool
    ) -> list[str]:
        r = self.rng
        words = list(start)
        number_at = set(r.sample(range(len(words) + 1, n_words), n_numbers))
        for i in range(len(words), n_words):
            if i in number_at:
                words.append(self.number())
                if unit:
                    words.append(r.choice(_UNITS))
            elif r.random() < 0.3:
                words.append(r.choice(_FUNCTION_WORDS))
            elif r.random() < 0.5:
                words.append(r.choice(topic))
            else:
                words.append(r.choice(self.vocab))
        return words

    def science(self) -> list[str]:
        """Word list of a science problem: quantities with units, asked for in a unit."""
        r = self.rng
        words = self._words(
            r.randint(25, 55), r.randint(2, 4), r.choice(_SCIENCE_OPENERS).split(), _SCIENCE_WORDS, True
        )
        if r.random() < 0.5:
            words.insert(r.randint(2, len(words)), self.quantity())
        unit = r.choice(_UNITS)
        return words + ["find", "the", _QUANTITY.get(unit, "value"), "in", unit]

    def code(self) -> list[str]:
        """Word list of a stdin/stdout programming task with an input bound."""
        r = self.rng
        words = self._words(
            r.randint(30, 60), r.randint(1, 3), r.choice(_CODE_OPENERS).split(), _CODE_WORDS, False
        )
        words.insert(r.randint(2, len(words)), self.bound())
        return words + _CODE_TAIL

    def renumber(self, words: list[str]) -> list[str]:
        out = []
        for w in words:
            if w.isdigit():
                new = self.number()
                while new == w:
                    new = self.number()
                out.append(new)
            elif w.startswith("$"):  # a LaTeX item: a new one of its kind
                out.append(
                    self.quantity() if "\\mathrm" in w else self.bound() if "\\le" in w else self.latex()
                )
            else:
                out.append(w)
        return out

    def edit(self, words: list[str], max_frac: float) -> list[str]:
        r = self.rng
        words = list(words)
        plain = sum(1 for w in words if not (w.isdigit() or w.startswith("$")))
        k = r.randint(1, max(1, int(max_frac * plain)))
        for _ in range(k):
            idx = [i for i, w in enumerate(words) if not (w.isdigit() or w.startswith("$"))]
            op = r.random()
            if op < 0.5:
                words[r.choice(idx)] = r.choice(self.vocab)
            elif op < 0.75:
                words.insert(r.randint(1, len(words)), r.choice(self.edit_words))
            elif len(idx) > 5:
                del words[r.choice(idx)]
        return words

    def render(self, words: list[str], fancy: bool = False) -> str:
        r = self.rng
        text = " ".join(words)
        if not fancy:
            return text[0].upper() + text[1:] + ("?" if words[0].lower() in ("how", "what") else ".")
        ops = [
            lambda t: t.replace(" ", "  ", r.randint(1, 3)),
            lambda t: t.upper() if r.random() < 0.2 else t.lower(),
            lambda t: t.replace("$", "\\(", 1).replace("$", "\\)", 1) if "$" in t else "\n" + t,
            lambda t: t.replace("\\frac", "\\dfrac").replace("+", " + ").replace("\\cdot", "\\,\\cdot\\,"),
            lambda t: t.replace("(", "\\left(").replace(")", "\\right)") if "(" in t else t + " ",
            lambda t: t + ("." if r.random() < 0.5 else " ?"),
            lambda t: t.replace(" ", ", ", 1),
        ]
        for op in r.sample(ops, r.randint(2, 4)):
            text = op(text)
        return text


def make_corpus(
    n_rows: int,
    *,
    seed: int = 0,
    dup_fraction: float = 0.3,
    template_fraction: float = 0.1,
    max_edit_frac: float = 0.1,
    id_prefix: str = "p",
    mixed: bool = False,
) -> list[dict[str, Any]]:
    """``n_rows`` problem rows, shuffled: about ``dup_fraction`` are format/edit copies of an earlier
    problem (clusters of 2-5), ``template_fraction`` are same-template/other-number problems. Short
    math problems, or with ``mixed`` a third each of math, science (quantities with units, a numeric
    reference with its unit) and code (stdin/stdout task with tests in the reference)."""
    gen = _generate(n_rows, seed, dup_fraction, template_fraction, max_edit_frac, id_prefix, mixed)
    rows = list(gen)
    gen.rng.shuffle(rows)
    return rows


def write_corpus(path: str | Path, n_rows: int, **options: Any) -> int:
    """Write ``make_corpus(n_rows, **options)`` to a JSONL file, the same bytes as
    ``write_rows(path, make_corpus(...))``, without holding the rows: they are written in generation
    order to a scratch file and copied out in the shuffled order (for corpora of millions of rows;
    a problem is kept as one string, and each distinct problem as a 16-byte digest)."""
    from ..io import dumps

    o = {**_DEFAULTS, **options}
    gen = _generate(
        n_rows,
        o["seed"],
        o["dup_fraction"],
        o["template_fraction"],
        o["max_edit_frac"],
        o["id_prefix"],
        o["mixed"],
    )
    path = Path(path)
    offsets = array("q", [0])
    scratch = path.with_name(path.name + ".unshuffled")
    with scratch.open("wb") as fh:
        for row in gen:
            line = dumps(row) + b"\n"
            fh.write(line)
            offsets.append(offsets[-1] + len(line))
    order = array("q", range(len(offsets) - 1))
    gen.rng.shuffle(order)  # the same draws as shuffling the rows themselves
    with (
        scratch.open("rb") as fh,
        mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as src,
        path.open("wb") as out,
    ):
        for i in order:
            out.write(src[offsets[i] : offsets[i + 1]])
    scratch.unlink()
    return len(order)


_DEFAULTS = {
    "seed": 0,
    "dup_fraction": 0.3,
    "template_fraction": 0.1,
    "max_edit_frac": 0.1,
    "id_prefix": "p",
    "mixed": False,
}


class _generate:
    """The rows of a corpus in generation order (iterate once); ``rng`` then shuffles them."""

    def __init__(self, n_rows, seed, dup_fraction, template_fraction, max_edit_frac, id_prefix, mixed):
        self.n_rows, self.seed, self.mixed, self.id_prefix = n_rows, seed, mixed, id_prefix
        self.dup_fraction, self.template_fraction, self.max_edit_frac = (
            dup_fraction,
            template_fraction,
            max_edit_frac,
        )
        self.g = _Gen(seed)
        self.rng = self.g.rng

    def __iter__(self):
        g, r = self.g, self.rng
        originals: list[tuple[int, str, str]] = []  # (cluster, domain, words joined by _SEP)
        seen: set[bytes] = set()  # digests of every problem's words: new problems must be new
        count = cluster = 0
        dup, templ = self.dup_fraction, self.dup_fraction + self.template_fraction

        def row(text: str, cid: int, domain: str, kind: str, words: list[str]) -> dict[str, Any]:
            nonlocal count
            count += 1
            return {
                "id": f"{self.id_prefix}{count - 1}",
                "domain": domain,
                "prompt": text,
                "reference": self._reference(domain, cid, words),
                "source": "synthetic",
                "meta": {"cluster": cid, "kind": kind},
            }

        def new_problem(words: list[str]) -> bool:
            key = hashlib.blake2b(_SEP.join(words).encode(), digest_size=16).digest()
            if key in seen:
                return False
            seen.add(key)
            return True

        while count < self.n_rows:
            u = r.random()
            if originals and u < dup:
                cid, domain, joined = r.choice(originals)
                words = joined.split(_SEP)
                for _ in range(r.randint(1, 4)):
                    if count >= self.n_rows:
                        break
                    if r.random() < 0.5:
                        yield row(g.render(words, fancy=True), cid, domain, "format", words)
                    else:
                        text = g.render(g.edit(words, self.max_edit_frac), fancy=r.random() < 0.5)
                        yield row(text, cid, domain, "edit", words)
            elif originals and u < templ:
                _, domain, joined = r.choice(originals)
                new = g.renumber(joined.split(_SEP))
                if new_problem(new):  # renumbering a renumbered problem can give back the first one
                    originals.append((cluster, domain, _SEP.join(new)))
                    yield row(g.render(new), cluster, domain, "template", new)
                    cluster += 1
            else:
                domain = _DOMAINS[int(r.random() * 3)] if self.mixed else "math"
                words = g.problem() if domain == "math" else g.science() if domain == "science" else g.code()
                if not new_problem(words):
                    continue
                originals.append((cluster, domain, _SEP.join(words)))
                yield row(g.render(words), cluster, domain, "original", words)
                cluster += 1

    def _reference(self, domain: str, cid: int, words: list[str]) -> dict[str, Any]:
        """The cluster's reference: the same for its copies, another one for a template sibling (its
        own cluster), drawn from its own generator so the corpus's draws do not depend on it."""
        if domain == "math":
            return {"answer": str(cid % 997)}
        r = random.Random(self.seed * 1_000_003 + cid)
        if domain == "science":
            unit = next((w for w in reversed(words) if w in _UNITS), "J")
            return {"answer": f"{r.uniform(0.1, 999):.3g}", "unit": unit, "rel_tol": 0.01}
        numbers = [int(w) for w in words if w.isdigit()] or [1]
        tests = []
        for _ in range(r.randint(2, 4)):
            xs = [r.randint(-numbers[0], 999) for _ in range(r.randint(3, 8))]
            tests.append({"input": f"{len(xs)}\n{' '.join(map(str, xs))}\n", "output": f"{sum(xs) % 1000}\n"})
        return {"tests": tests}


def true_pairs(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """All unordered id pairs that share a cluster (the ground truth for pairwise precision/recall)."""
    by_cluster: dict[Any, list[str]] = {}
    for row in rows:
        by_cluster.setdefault(row["meta"]["cluster"], []).append(row["id"])
    pairs = set()
    for ids in by_cluster.values():
        ids = sorted(ids)
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                pairs.add((ids[i], ids[j]))
    return pairs


def pairwise_scores(predicted_clusters: list[list[str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    """Pairwise precision/recall of predicted clusters (lists of ids) against the true pairs."""
    predicted = set()
    for ids in predicted_clusters:
        ids = sorted(ids)
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                predicted.add((ids[i], ids[j]))
    tp = len(predicted & truth)
    return {
        "precision": tp / len(predicted) if predicted else 1.0,
        "recall": tp / len(truth) if truth else 1.0,
        "predicted_pairs": len(predicted),
        "true_pairs": len(truth),
    }


def clusters_from_rejects(rejects: list[dict[str, Any]]) -> list[list[str]]:
    """Predicted duplicate clusters from a rejects file: each kept id with the rows removed as its
    exact or near duplicates."""
    groups: dict[str, list[str]] = {}
    for r in rejects:
        if r.get("reason") in ("exact_duplicate", "near_duplicate"):
            kept = r["evidence"]["kept_id"]
            groups.setdefault(kept, [kept]).append(r["id"])
    return list(groups.values())
