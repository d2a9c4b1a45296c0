"""Decontamination as a stage: the rows' benchmark hits (``ring_data.clean.decontam``). The word rules
and the math signature usually ran already, in the ingest workers, where the rows were read (the
ingested rows carry those hits under :func:`lexical_key`); then only the optional semantic pass runs
here. Each hit becomes a ``contamination`` decision whose evidence is the typed :class:`Hit`."""

from __future__ import annotations

from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from verifiers import reference_answer

from ...io import loads
from ..columns import TokenReader
from ..config import CleanConfig
from ..decisions import Decision
from ..decontam.hit import Hit
from ..decontam.index import builtin_names
from ..decontam.match import find_contamination
from ..decontam.sources import load_indexes
from ..ingest import Ingested
from ..normalize import NORMALIZER_VERSION, Encoded, MathEncoded, encode_math
from ..resume import fingerprint, input_fingerprint
from .base import StageResult


def decontam_inputs(config: CleanConfig) -> list:
    """Everything the word rules and the math signature depend on."""
    return [
        config.builtin_benchmarks,
        config.benchmark_files,
        input_fingerprint([Path(f) for f in config.benchmark_files if Path(f).exists()]),
        asdict(config.decontam_params),
        builtin_names(),
    ]


def lexical_key(config: CleanConfig) -> str:
    """The fingerprint of the hits ingest finds: the stage uses them when its settings still match."""
    return fingerprint("lexical", NORMALIZER_VERSION, decontam_inputs(config))


class DecontamStage:
    name = "decontam"

    def enabled(self, config: CleanConfig) -> bool:
        return config.decontam

    def settings(self, config: CleanConfig) -> list:
        return [*decontam_inputs(config), config.semantic, config.semantic_threshold]

    def run(self, rows: Ingested, alive: np.ndarray, config: CleanConfig) -> StageResult:
        lexical = rows.contamination if rows.contamination_key == lexical_key(config) else None
        found, stats = contamination(rows, alive, config, lexical)
        return StageResult(found, stats)


def contamination(
    ing: Ingested, alive: np.ndarray, config: CleanConfig, lexical: dict[int, Hit] | None = None
) -> tuple[dict[int, Decision], dict[str, Any]]:
    """Benchmark hits of the alive rows; ``lexical`` are the word-rule / math-signature hits when ingest
    already found them (it does, in its worker processes), so only the semantic pass runs here."""
    embedder = None
    if config.semantic:
        from ..decontam.semantic import make_embedder

        embedder = make_embedder(config.semantic)
    indexes = []
    if lexical is None or embedder is not None:
        n = config.decontam_params.n
        indexes = load_indexes(config.builtin_benchmarks, config.benchmark_files, n=n, embedder=embedder)
    if lexical is None:  # ingest ran without decontamination, or with other settings
        hits = {}
        with ing.rows_path.open("rb") as spool:
            for lo, hi, enc in _encoded_chunks(ing):
                lines = list(islice(spool, hi - lo))  # the spool's rows lo:hi (read in step)
                math = None
                if config.decontam_params.math:
                    math = (
                        _math_from_spool(ing, alive, lo, lines)
                        if ing.enc.math is None
                        else _math_rows(ing.enc.math, lo, hi)
                    )
                found = find_contamination(
                    enc, indexes, config.decontam_params, active=alive[lo:hi], math=math
                )
                hits.update({lo + d: h for d, h in found.items()})
    else:
        hits = {d: h for d, h in lexical.items() if alive[d]}
    out = {d: Decision("contamination", h) for d, h in hits.items()}
    info: dict[str, Any] = {
        "lexical_hits": sum(h.kind != "math_signature" for h in hits.values()),
        "math_signature_hits": sum(h.kind == "math_signature" for h in hits.values()),
    }
    if embedder is not None:
        threshold = config.semantic_threshold
        threshold = embedder.default_threshold if threshold is None else threshold
        out.update(_semantic_hits(ing, alive, set(out), indexes, embedder, threshold, info))
    return out, info


CHUNK_ROWS = 200_000  # rows checked at once when the stage reads the rows' tokens itself


def _encoded_chunks(ing: Ingested):
    """``(lo, hi, Encoded)`` of consecutive ranges of rows, their tokens read from the column files
    (or sliced from memory): the memory of one range, whatever the run's size."""
    e, reader = ing.enc, TokenReader.of(ing)
    for lo in range(0, ing.n, CHUNK_ROWS):
        hi = min(ing.n, lo + CHUNK_ROWS)
        a, b = int(e.offsets[lo]), int(e.offsets[hi])
        yield (
            lo,
            hi,
            Encoded(
                flat=reader.read("flat", a, b),
                offsets=e.offsets[lo : hi + 1] - a,
                is_number=reader.read("is_number", a, b),
                exact_hash=np.asarray(e.exact_hash[lo:hi]),
                digitless_hash=np.asarray(e.digitless_hash[lo:hi]),
                digitless_len=np.asarray(e.digitless_len[lo:hi]),
                numbers_hash=np.asarray(e.numbers_hash[lo:hi]),
            ),
        )


def _math_rows(math: MathEncoded, lo: int, hi: int) -> MathEncoded:
    a, b = math.offsets[lo], math.offsets[hi]
    return MathEncoded(
        math.flat[a:b],
        math.offsets[lo : hi + 1] - a,
        math.is_number[a:b],
        math.number_bits[a:b],
        math.answer_hash[lo:hi],
        math.answer_bits[lo:hi],
    )


def _math_from_spool(ing: Ingested, alive: np.ndarray, lo: int, lines: list[bytes]) -> MathEncoded:
    """Math signatures of the alive rows among the spooled ``lines`` (rows ``lo``...) (only when
    ingest did not make them: it ran with decontamination off and was resumed)."""
    prompts, answers = [""] * len(lines), [None] * len(lines)
    for k, line in enumerate(lines):
        if alive[lo + k] and ing.domains[lo + k] not in ing.verbatim:
            row = loads(line)
            prompts[k], answers[k] = row["prompt"], reference_answer(row.get("reference"))
    return encode_math(prompts, answers)


def _semantic_hits(
    ing: Ingested, alive: np.ndarray, already: set[int], indexes, embedder, threshold: float, info: dict
) -> dict[int, Decision]:
    """Embed the rows the other rules let through and compare them with every item's embedding."""
    from ..decontam.semantic import nearest

    key = getattr(embedder, "key", "")
    embeddings = {ix.name: ix.embeddings if not key else ix.extra_embeddings.get(key) for ix in indexes}
    usable = [ix for ix in indexes if embeddings[ix.name] is not None]
    info["semantic_benchmarks"] = [ix.name for ix in usable]
    todo = [int(i) for i in np.flatnonzero(alive) if int(i) not in already]
    if not usable or not todo:
        return {}
    wanted = set(todo)
    prompts: dict[int, str] = {}
    with ing.rows_path.open("rb") as spool:
        for idx, line in enumerate(spool):
            if idx in wanted:
                prompts[idx] = loads(line)["prompt"]
    row_emb = embedder.embed([prompts[i] for i in todo])
    bench = np.concatenate([embeddings[ix.name] for ix in usable]).astype(np.float32)
    owner = [(ix.name, item) for ix in usable for item in ix.item_ids]
    rows, items, sims = nearest(row_emb, bench, threshold)
    info["semantic_hits"] = len(rows)
    return {
        todo[r]: Decision("contamination", Hit(owner[it][0], owner[it][1], "semantic", round(float(sim), 4)))
        for r, it, sim in zip(rows.tolist(), items.tolist(), sims.tolist())
    }
