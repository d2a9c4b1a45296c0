"""Inputs for the hostile-environment tests: math rows (a few for an earlier complete run, many for a
run that must fill a disk or be caught mid-read), precomputed responses for ``annotate --sampler
samples:``, and a tiny policy with an RL config."""

from __future__ import annotations

import json
from pathlib import Path


def math_row(key: str, i: int) -> dict:
    a, b = i % 89 + 2, i % 53 + 7
    prompt = f"Problem {key}: a crate holds {a} rows of {b} boxes each. How many boxes are in the crate?"
    return {"id": key, "domain": "math", "prompt": prompt, "reference": {"answer": str(a * b)}, "source": "t"}


def write_rows(path: Path, keys: list[str]) -> Path:
    with path.open("w") as fh:
        for i, key in enumerate(keys):
            fh.write(json.dumps(math_row(key, i)) + "\n")
    return path


def write_samples(path: Path, rows_file: Path) -> Path:
    """Two responses per row: one right, one wrong (every problem is 'medium' at n=2)."""
    with path.open("w") as fh, rows_file.open() as rows:
        for line in rows:
            row = json.loads(line)
            right = f"\\boxed{{{row['reference']['answer']}}}"
            fh.write(json.dumps({"id": row["id"], "responses": [right, "\\boxed{0}"]}) + "\n")
    return path


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def rl_setup(root: Path) -> tuple[Path, Path]:
    """A tiny policy, four arithmetic prompts and an RL config of two steps with a checkpoint each:
    ``(config path, data path)``; ``--run-dir`` picks where a run writes."""
    import yaml

    from ring_data.rows import write_jsonl
    from ring_train.models.tiny import create_tiny_policy
    from ring_train.recipes.arithmetic import problem_row

    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44)]]
    data = root / "rl_math.jsonl"
    write_jsonl(data, rows)
    model = create_tiny_policy(
        root / "policy",
        [r["prompt"] for r in rows],
        vocab_size=300,
        seed=0,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
    )
    raw = {
        "model": str(model),
        "run_dir": str(root / "rl_run"),
        "seed": 3,
        "stages": [{"name": "reasoning", "datasets": {str(data): 1.0}, "steps": 2}],
        "rollout": {"prompts_per_step": 2, "group_size": 2, "max_new_tokens": 8},
        "c3po": {"budget": 16},
        "checkpoint_every": 1,
        "lanes": 1,
        "logger": "none",
    }
    config = root / "rl.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config, data
