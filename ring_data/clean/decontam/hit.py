"""A benchmark hit: which item a row matched, by which rule, and what matched. It stays this typed record
(in the decontam stage's decisions and the work directory) until the rejects file is written, where
:meth:`Hit.evidence` completes it from the row's text (the matched n-gram or math tokens, the row's
language)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..math_tokens import math_tokens
from ..normalize import tokens, without_numbers
from .language import detect_language


@dataclass
class Hit:
    benchmark: str
    item: str
    kind: str  # exact | digitless | ngram | math_signature | semantic
    overlap: float
    ngram_start: int | None = None  # position of a matched n-gram in the row's digit-free tokens
    n: int = 0
    lang: str = ""  # language of the benchmark text that matched ("" unknown)
    math_positions: list[int] | None = None  # math_signature: matched tokens of the row's signature
    rule: str | None = None  # math_signature: sequence | numbers | answer
    shared_numbers: int = 0
    answer: bool = False

    row_language: str | None = None  # the caught row's prose language: set when the evidence is written

    def evidence(self, prompt: str, verbatim: bool = False) -> dict[str, Any]:
        """The evidence written to the rejects file (``prompt``: the row's; ``verbatim``: its domain
        compares text verbatim), in a fixed key order; also records :attr:`row_language`."""
        ev: dict[str, Any] = {"benchmark": self.benchmark, "item": self.item}
        if self.kind == "ngram":
            toks = without_numbers(tokens(prompt, verbatim=verbatim))
            ev["match"] = " ".join(toks[self.ngram_start : self.ngram_start + self.n])
        ev["overlap"] = self.overlap
        if self.lang:
            ev["benchmark_language"] = self.lang
        if self.kind == "math_signature":
            ev.update(rule=self.rule, shared_numbers=self.shared_numbers, answer_match=self.answer)
        ev["match_kind"] = self.kind
        if self.kind == "semantic":
            ev["match"] = f"paraphrase: embedding cosine {self.overlap}"
        elif self.kind == "math_signature":
            toks = math_tokens(prompt)
            ev["match"] = " ".join(toks[i] for i in self.math_positions or [] if i < len(toks))
        elif self.kind != "ngram":
            ev["match"] = "whole problem" + (" (numbers ignored)" if self.kind == "digitless" else "")
        self.row_language = ev["language"] = detect_language(prompt)
        return ev
