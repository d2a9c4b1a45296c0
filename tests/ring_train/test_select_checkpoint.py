import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ring_train.models.tiny import create_tiny_policy
from ring_train.recipes.arithmetic import problem_row, solution_text
from ring_train.select import Measured, choose, expand_checkpoints, select_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _m(name, entropy):
    return Measured(name, entropy, 0.0, 10.0)


def test_choose_prefers_most_trained_inside_window_else_nearest():
    def pick(window):
        ms = [_m("e1", 0.9), _m("e2", 0.45), _m("e3", 0.35), _m("e4", 0.2)]
        return choose(ms, *window).path

    assert pick((0.3, 0.5)) == "e3"
    assert pick((1.0, 2.0)) == "e1"  # nearest to the window, from below
    assert pick((0.0, 0.1)) == "e4"  # nearest, from above


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """epoch_1: random weights (entropy near ln V); epoch_2: the same model sharpened on one sequence."""
    root = tmp_path_factory.mktemp("sft")
    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44)]]
    texts = [r["prompt"] for r in rows] + [solution_text(12, 34), solution_text(56, 7)]
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    e1 = create_tiny_policy(root / "epoch_1", texts, vocab_size=300, intermediate_size=64, **small)
    from ring_train.models.load import load_policy

    model, tok = load_policy(e1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    ids = tok(rows[0]["prompt"] + solution_text(12, 34) + tok.eos_token, return_tensors="pt").input_ids
    for _ in range(30):  # memorise one sequence: the next-token distribution becomes peaked
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(root / "epoch_2")
    tok.save_pretrained(root / "epoch_2")
    prompts = root / "rl.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root, prompts


def test_select_measures_entropy_writes_table_and_plot(two_checkpoints, tmp_path):
    root, prompts = two_checkpoints
    assert [p.name for p in expand_checkpoints([str(root)])] == ["epoch_1", "epoch_2"]
    chosen, (e1, e2) = select_checkpoint(
        [str(root)], str(prompts), tmp_path, window=(0.0, 3.0), samples=2, max_new_tokens=12
    )
    assert e1.entropy > 4.0  # random init over ~300 tokens: close to ln(300) = 5.7
    assert e2.entropy < e1.entropy
    assert 1 <= e1.response_len <= 12 and 0.0 <= e1.pass_rate <= 1.0
    assert (chosen.name == "epoch_2") == (e2.entropy <= 3.0)
    table = (tmp_path / "selection.md").read_text()
    assert "epoch_1" in table and "epoch_2" in table and table.count("**yes**") == 1
    assert (tmp_path / "entropy.png").stat().st_size > 1000
    assert sum(c["chosen"] for c in json.loads((tmp_path / "selection.json").read_text())["checkpoints"]) == 1


def test_cli_prints_chosen_path_and_rejects_bad_dir(two_checkpoints, tmp_path):
    root, prompts = two_checkpoints
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    base = [sys.executable, "-m", "cli.ring_train", "select-checkpoint"]
    opts = [
        "--prompts",
        str(prompts),
        "-o",
        str(tmp_path / "sel"),
        "--samples",
        "2",
        "--max-new-tokens",
        "8",
        "--window",
        "9",
        "10",
    ]
    p = subprocess.run(
        base + [str(root / "epoch_1"), str(root / "epoch_2")] + opts,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(root / "epoch_1")  # nothing near 9-10 nats: the highest-entropy one
    bad = subprocess.run(
        base + [str(tmp_path / "missing")] + opts,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "epoch_<n>" in bad.stderr and "Traceback" not in bad.stderr
