import json
import subprocess
import sys
from pathlib import Path

import pytest

from ring_data.errors import BadInputError
from ring_data.rows import write_jsonl
from ring_train.models.load import load_policy
from ring_train.recipes.arithmetic import problem_row, solution_text
from ring_train.sft import SFTConfig, run_sft

ROOT = Path(__file__).resolve().parents[2]


def _rows(n):
    pairs = [(10 + i, 20 + 2 * i) for i in range(n)]
    return [{**problem_row(a, b), "response": solution_text(a, b)} for a, b in pairs]


def test_sft_saves_one_checkpoint_per_epoch_and_lowers_the_loss(tmp_path):
    write_jsonl(tmp_path / "sft.jsonl", _rows(24))
    paths = run_sft(
        tmp_path / "sft.jsonl",
        tmp_path / "out",
        tiny=True,
        tiny_vocab=300,
        cfg=SFTConfig(epochs=3, lr=1e-2, batch_size=4),
    )
    assert [p.name for p in paths] == ["epoch_1", "epoch_2", "epoch_3"]
    model, tok = load_policy(paths[-1])
    # the tokenizer survives the round trip with spaces intact (the AutoTokenizer trap)
    text = "Compute 12+34. Put the answer in \\boxed{}."
    assert tok.decode(tok(text).input_ids) == text
    hist = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    first, last = hist[0]["sft/loss"], hist[-1]["sft/loss"]
    assert last < first * 0.6
    stats = json.loads((tmp_path / "out" / "sft.stats.json").read_text())
    assert stats["rows"] == 24 and stats["trained_rows"] == 24 and stats["steps"] == 18
    assert (tmp_path / "out" / "sft_loss.png").exists()


def test_sft_rows_without_response_name_file_line_and_field(tmp_path):
    rows = _rows(3)
    del rows[1]["response"]
    write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(BadInputError, match=r"bad\.jsonl:2: field 'response'"):
        run_sft(tmp_path / "bad.jsonl", tmp_path / "out", tiny=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.ring_train",
            "sft",
            str(tmp_path / "bad.jsonl"),
            "-o",
            str(tmp_path / "o"),
            "--tiny",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "bad.jsonl:2" in proc.stderr
