"""Where a run's indexes come from: the shipped ones and the user's benchmark files (indexed on the fly,
or prebuilt ``.npz``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from verifiers import reference_answer

from ...errors import UserError
from ...io import read_rows
from .index import BenchmarkIndex, builtin_names, common_math_ngrams, load_builtin


def load_indexes(
    builtin: tuple[str, ...] | None, files: tuple[str, ...], *, n: int = 8, embedder=None
) -> list[BenchmarkIndex]:
    """The shipped indexes named by ``builtin`` (None: all, (): none) and one per benchmark file."""
    indexes = [] if builtin == () else load_builtin(list(builtin) if builtin else None)
    for f in files:
        if not Path(f).exists():
            raise UserError(f"{f}: benchmark file not found")
        indexes.append(index_from_rows(f, n=n, embedder=embedder))
    return indexes


def benchmark_names(builtin: tuple[str, ...] | None, files: tuple[str, ...]) -> list[str]:
    """Names of the indexes :func:`load_indexes` would load (without loading them)."""
    shipped = [] if builtin == () else list(builtin) if builtin else builtin_names()
    return shipped + [Path(f).name.split(".")[0] for f in files]


def index_from_rows(path: str | Path, *, n: int = 8, embedder=None) -> BenchmarkIndex:
    """Index a user's benchmark file (JSONL/Parquet/datasets dir with a ``prompt`` column, or a
    ``question``/``problem`` column) on the fly; item ids are the rows' ids. An ``answer`` column (or
    ``reference.answer``) feeds the math signature's answer rule."""
    path = Path(path)
    if path.suffix == ".npz":
        return BenchmarkIndex.load(path)
    rows = list(read_rows(path, defaults={"domain": "benchmark"}, mapping=_guess_prompt_column(path)))
    texts = [r["prompt"] for r in rows]
    answers = [
        reference_answer(r.get("reference")) or (str(r["answer"]) if r.get("answer") is not None else None)
        for r in rows
    ]
    index = BenchmarkIndex.build(
        path.name.split(".")[0],
        [r["id"] for r in rows],
        texts,
        answers=answers,
        n=n,
        source=str(path),
        common=common_math_ngrams([[t] for t in texts]),
    )
    if embedder is not None:
        emb = embedder.embed(texts).astype(np.float16)
        if getattr(embedder, "key", ""):
            index.extra_embeddings[embedder.key] = emb
        else:
            index.embeddings = emb
    return index


def _guess_prompt_column(path: Path) -> dict[str, str]:
    """Benchmarks name their text column differently; map the first known one to ``prompt``."""
    try:
        first = next(iter(read_rows(path, defaults={"domain": "benchmark", "prompt": ""})))
    except StopIteration:
        return {}
    if first.get("prompt"):
        return {}
    for name in ("problem", "question", "input", "text"):
        if isinstance(first.get(name), str):
            return {name: "prompt"}
    return {}
