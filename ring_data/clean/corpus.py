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

import random
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

    def renumber(self, words: list[str]) -> list[str]:
        out = []
        for w in words:
            if w.isdigit():
                new = self.number()
                while new == w:
                    new = self.number()
                out.append(new)
            elif w.startswith("$"):
                out.append(self.latex())
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
                words.insert(r.randint(1, len(words)), r.choice(self.vocab + _FUNCTION_WORDS))
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
) -> list[dict[str, Any]]:
    """``n_rows`` math problem rows, shuffled: about ``dup_fraction`` are format/edit copies of an
    earlier problem (clusters of 2-5), ``template_fraction`` are same-template/other-number problems."""
    g = _Gen(seed)
    r = g.rng
    rows: list[dict[str, Any]] = []
    originals: list[tuple[int, list[str]]] = []
    seen: set[tuple[str, ...]] = set()
    cluster = 0

    def add(text: str, cid: int, kind: str) -> None:
        rows.append(
            {
                "id": f"{id_prefix}{len(rows)}",
                "domain": "math",
                "prompt": text,
                "reference": {"answer": str(cid % 997)},
                "source": "synthetic",
                "meta": {"cluster": cid, "kind": kind},
            }
        )

    while len(rows) < n_rows:
        u = r.random()
        if originals and u < dup_fraction:
            cid, words = r.choice(originals)
            for _ in range(r.randint(1, 4)):
                if len(rows) >= n_rows:
                    break
                if r.random() < 0.5:
                    add(g.render(words, fancy=True), cid, "format")
                else:
                    add(g.render(g.edit(words, max_edit_frac), fancy=r.random() < 0.5), cid, "edit")
        elif originals and u < dup_fraction + template_fraction:
            _, words = r.choice(originals)
            new = g.renumber(words)
            if tuple(new) not in seen:  # renumbering a renumbered problem can give back the first one
                seen.add(tuple(new))
                originals.append((cluster, new))
                add(g.render(new), cluster, "template")
                cluster += 1
        else:
            words = g.problem()
            if tuple(words) in seen:
                continue
            seen.add(tuple(words))
            originals.append((cluster, words))
            add(g.render(words), cluster, "original")
            cluster += 1
    r.shuffle(rows)
    return rows


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
