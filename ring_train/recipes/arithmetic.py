"""Generated multi-digit addition with a column-by-column reasoning trace (domain ``math``).

Prompt: ``Compute 372+48. Put the answer in \\boxed{}.``
SFT response: ``<think>2+8=10 7+4+1=12 3+0+1=4</think>\\boxed{420}`` (units first, carry included).
Rows follow the problem-row schema (docs/architecture.md §2); SFT rows add ``response``. The train, RL and
held-out splits never share a problem.
"""

from __future__ import annotations

import random
from pathlib import Path

from ring_data.rows import content_id, write_jsonl

SOURCE = "ring_train.recipes.arithmetic"


def prompt_text(a: int, b: int) -> str:
    return f"Compute {a}+{b}. Put the answer in \\boxed{{}}."


def solution_text(a: int, b: int) -> str:
    da, db = str(a)[::-1], str(b)[::-1]
    steps, carry = [], 0
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        s = x + y + carry
        steps.append(f"{x}+{y}+{carry}={s}" if carry else f"{x}+{y}={s}")
        carry = s // 10
    return f"<think>{' '.join(steps)}</think>\\boxed{{{a + b}}}"


def problem_row(a: int, b: int) -> dict:
    prompt, reference = prompt_text(a, b), {"answer": str(a + b)}
    return {
        "id": content_id("math", prompt, reference),
        "domain": "math",
        "prompt": prompt,
        "reference": reference,
        "source": SOURCE,
        "meta": {},
    }


def _pairs(rng: random.Random, n: int, digits: tuple[int, int], seen: set) -> list[tuple[int, int]]:
    def number() -> int:
        d = rng.randint(*digits)
        return rng.randint(10 ** (d - 1), 10**d - 1)

    out = []
    while len(out) < n:
        a, b = number(), number()
        if (a, b) not in seen:
            seen.add((a, b))
            out.append((a, b))
    return out


def write_splits(
    out_dir: str | Path,
    *,
    n_sft: int = 4000,
    n_rl: int = 4000,
    n_eval: int = 256,
    digits=(2, 3),
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``sft.jsonl`` (rows + ``response``), ``rl.jsonl`` and ``heldout.jsonl``; returns their paths."""
    rng, seen = random.Random(seed), set()
    out = Path(out_dir)
    sft = [
        {**problem_row(a, b), "response": solution_text(a, b)} for a, b in _pairs(rng, n_sft, digits, seen)
    ]
    rl = [problem_row(a, b) for a, b in _pairs(rng, n_rl, digits, seen)]
    heldout = [problem_row(a, b) for a, b in _pairs(rng, n_eval, digits, seen)]
    paths = {"sft": out / "sft.jsonl", "rl": out / "rl.jsonl", "heldout": out / "heldout.jsonl"}
    for name, rows in (("sft", sft), ("rl", rl), ("heldout", heldout)):
        write_jsonl(paths[name], rows)
    return paths


def corpus(paths: dict[str, Path]) -> list[str]:
    """Texts to train the tokenizer on (prompts and SFT responses)."""
    from ring_data.io import read_rows

    texts = []
    for row in read_rows(paths["sft"]):
        texts += [row["prompt"], row["response"]]
    return texts
