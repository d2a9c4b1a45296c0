"""Decontamination as a stage: the rows' benchmark hits (``ring_data.clean.decontam``). The word rules
and the math signature usually ran already, in the ingest workers, where the rows were read (the
ingested rows carry those hits under :func:`lexical_key`); then only the optional semantic pass runs
here. Each hit becomes a ``contamination`` decision whose evidence is the typed :class:`Hit`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from verifiers import reference_answer

from ...io import loads
from ..config import CleanConfig
from ..decisions import Decision
from ..decontam.hit import Hit
from ..decontam.index import builtin_names
from ..decontam.match import find_contamination
from ..decontam.sources import load_indexes
from ..ingest import Ingested
from ..normalize import NORMALIZER_VERSION, MathEncoded, encode_math
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
    if lexical is None:
        math = ing.enc.math
        if math is None and config.decontam_params.math:  # ingest ran without decontamination
            math = _math_from_spool(ing, alive)
        hits = find_contamination(ing.enc, indexes, config.decontam_params, active=alive, math=math)
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


def _math_from_spool(ing: Ingested, alive: np.ndarray) -> MathEncoded:
    """Math signatures of the alive rows read back from the spool (only when ingest did not make
    them: it ran with decontamination off and was resumed)."""
    prompts, answers = [""] * ing.n, [None] * ing.n
    with ing.rows_path.open("rb") as spool:
        for idx, line in enumerate(spool):
            if alive[idx] and ing.domains[idx] not in ing.verbatim:
                row = loads(line)
                prompts[idx], answers[idx] = row["prompt"], reference_answer(row.get("reference"))
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
