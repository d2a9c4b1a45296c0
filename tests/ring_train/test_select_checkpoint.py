import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import verifiers
from ring_train.models.tiny import create_tiny_policy
from ring_train.recipes.arithmetic import problem_row, solution_text
from ring_train.select import CheckpointScore, choose, find_checkpoints, select_checkpoint

HAS_VERIFY = hasattr(verifiers, "verify_batch")
ROOT = Path(__file__).resolve().parents[2]


def _score(name, entropy):
    return CheckpointScore(name, entropy, None, 10.0, 8)


def test_choose_prefers_most_trained_inside_window_else_nearest():
    s = [_score("e1", 0.9), _score("e2", 0.45), _score("e3", 0.35), _score("e4", 0.2)]
    assert choose(s, (0.3, 0.5)) == (2, True)
    assert choose(s, (1.0, 2.0)) == (0, False)  # nearest to the window from below
    assert choose(s, (0.0, 0.1)) == (3, False)  # nearest from above
    with pytest.raises(Exception, match="above high"):
        choose(s, (0.5, 0.3))


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """epoch-1: random weights (entropy near ln V); epoch-2: the same model sharpened by a few SFT steps."""
    root = tmp_path_factory.mktemp("sft")
    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44)]]
    texts = [r["prompt"] for r in rows] + [solution_text(12, 34), solution_text(56, 7)]
    e1 = create_tiny_policy(
        root / "epoch-1",
        texts,
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
    )
    from ring_train.models.load import load_policy

    model, tok = load_policy(e1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    ids = tok(rows[0]["prompt"] + solution_text(12, 34) + tok.eos_token, return_tensors="pt").input_ids
    for _ in range(30):  # memorise one sequence: the next-token distribution becomes peaked
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(root / "epoch-2")
    tok.save_pretrained(root / "epoch-2")
    return root, rows


def test_select_measures_entropy_writes_table_and_plot(two_checkpoints, tmp_path):
    root, rows = two_checkpoints
    assert [p.name for p in find_checkpoints([root])] == ["epoch-1", "epoch-2"]
    sel = select_checkpoint(
        [root], rows, tmp_path, window=(0.0, 3.0), k=2, max_new_tokens=12, verify=HAS_VERIFY
    )
    e1, e2 = sel.scores
    assert e1.entropy > 4.0  # random init over ~300 tokens: close to ln(300) = 5.7
    assert e2.entropy < e1.entropy
    assert e1.n_samples == 8 and 1 <= e1.mean_response_tokens <= 12
    assert sel.chosen.endswith("epoch-2") == (e2.entropy <= 3.0)
    table = (tmp_path / "selection.md").read_text()
    assert "epoch-1" in table and "epoch-2" in table and "**yes**" in table
    assert (tmp_path / "selection.png").stat().st_size > 1000
    lines = [json.loads(x) for x in (tmp_path / "selection.jsonl").read_text().splitlines()]
    assert sum(x["chosen"] for x in lines) == 1
    if HAS_VERIFY:
        assert all(0.0 <= s.pass_rate <= 1.0 for s in sel.scores)


def test_cli_prints_chosen_path_and_rejects_bad_dir(two_checkpoints, tmp_path):
    root, rows = two_checkpoints
    prompts = tmp_path / "rl.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [
        sys.executable,
        "-m",
        "cli.ring_train",
        "select-checkpoint",
        str(root / "epoch-1"),
        str(root / "epoch-2"),
        "--prompts",
        str(prompts),
        "-o",
        str(tmp_path / "sel"),
        "--k",
        "2",
        "--max-new-tokens",
        "8",
        "--window",
        "9",
        "10",
    ] + ([] if HAS_VERIFY else ["--no-verify"])
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(root / "epoch-1")  # nothing near 9-10 nats: the highest-entropy one
    assert "chose the nearest" in p.stderr
    bad = subprocess.run(
        cmd[:4] + [str(tmp_path / "missing")] + cmd[6:],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "not a checkpoint directory" in bad.stderr
