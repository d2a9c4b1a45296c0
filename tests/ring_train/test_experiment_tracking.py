"""Weights & Biases, offline: ``ring-train rl`` (``--set logger=wandb``), ``sft`` and ``eval``
(``--logger wandb``) write a W&B run under the run dir whose history holds the same metric names and
values as ``metrics.jsonl`` / ``results.json`` (read back from the run's ``.wandb`` log); a missing
``wandb`` package is a one-line error naming the extra; OpenRLHF gets its own W&B flags."""

import glob
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ring_data.rows import write_jsonl
from ring_train.backends import get_backend
from ring_train.config import from_dict
from ring_train.metrics import read_metrics
from ring_train.models.tiny import create_tiny_policy
from ring_train.recipes.arithmetic import problem_row, solution_text

pytest.importorskip("wandb")
ROOT = Path(__file__).resolve().parents[2]
SMALL = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))


def wandb_history(run_dir: Path, wait_s: float = 30.0) -> list[dict]:
    """The history records of the W&B run under ``run_dir`` (its ``.wandb`` log: a LevelDB-style log of
    protobuf ``Record``s behind a 7-byte ``:W&B`` header). wandb's service process may still be writing
    the log when ``finish()`` has returned: read until the run's ``exit`` record is there."""
    from wandb.proto import wandb_internal_pb2 as pb

    deadline = time.monotonic() + wait_s
    while True:
        (path,) = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
        data = Path(path).read_bytes()
        assert data[:4] == b":W&B"
        out, pos, buf, done = [], 7, b"", False
        while pos + 7 <= len(data):
            if 32768 - pos % 32768 < 7:  # block trailer
                pos += 32768 - pos % 32768
                continue
            _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
            chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
            if kind == 0:
                continue
            buf = chunk if kind in (1, 2) else buf + chunk
            if kind in (1, 4):
                rec = pb.Record()
                rec.ParseFromString(buf)
                what = rec.WhichOneof("record_type")
                done = done or what == "exit"
                if what == "history":
                    out.append(
                        {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item}
                    )
        if done or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def _numbers(rec: dict) -> dict:
    return {
        k: v
        for k, v in rec.items()
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and not k.startswith("_")
        and k != "global_step"
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("track")
    rows = [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44)]]
    write_jsonl(root / "math.jsonl", rows)
    sft = [
        {**r, "response": solution_text(a, b)}
        for r, (a, b) in zip(rows, [(12, 34), (56, 7), (81, 19), (40, 44)])
    ]
    write_jsonl(root / "sft.jsonl", sft)
    texts = [r["prompt"] for r in sft] + [r["response"] for r in sft]
    return root, create_tiny_policy(root / "init", texts, vocab_size=300, seed=0, **SMALL)


def test_rl_logs_the_same_metrics_to_wandb(tiny, tmp_path):
    root, model = tiny
    raw = {
        "model": str(model),
        "run_dir": str(tmp_path / "run"),
        "seed": 1,
        "logger": "wandb",
        "stages": [{"name": "reasoning", "datasets": {str(root / "math.jsonl"): 1.0}, "steps": 2}],
        "rollout": {"prompts_per_step": 2, "group_size": 2, "max_new_tokens": 8},
        "c3po": {"budget": 20},
        "advantage": {"filter_zero_variance": False},
        "lanes": 1,
        "eval": {"data": str(root / "math.jsonl"), "every": 1},
    }
    cfg = from_dict(raw)
    get_backend("embedded").train(cfg, cfg.stages)
    jsonl = read_metrics(tmp_path / "run" / "metrics.jsonl")
    history = wandb_history(tmp_path / "run")
    assert [h["_step"] for h in history] == [r["global_step"] for r in jsonl] == [0, 1, 2]
    for rec, h in zip(jsonl, history):
        assert _numbers(h) == pytest.approx(_numbers(rec)), rec["global_step"]
    assert {"reward/mean", "policy/entropy", "eval/pass_rate", "c3po/kept_tokens"} <= set(history[-1])
    assert (tmp_path / "run" / "tensorboard").is_dir()  # besides TensorBoard, not instead of it


def test_sft_and_eval_log_to_wandb(tiny, tmp_path):
    from cli.ring_train import main

    root, _ = tiny
    out = tmp_path / "sft"
    assert (
        main(
            [
                "sft",
                str(root / "sft.jsonl"),
                "-o",
                str(out),
                "--tiny",
                "--epochs",
                "2",
                "--batch-size",
                "2",
                "--logger",
                "wandb",
            ]
        )
        == 0
    )
    history = wandb_history(out)
    jsonl = read_metrics(out / "metrics.jsonl")
    assert [h["sft/loss"] for h in history] == pytest.approx([r["sft/loss"] for r in jsonl])
    assert len(history) == 4

    samples = tmp_path / "samples.jsonl"
    write_jsonl(
        samples,
        [
            {"id": r["id"], "responses": ["\\boxed{46}", "\\boxed{1}"]}
            for r in (json.loads(x) for x in (root / "math.jsonl").read_text().splitlines())
        ],
    )
    ev = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--sampler",
                f"samples:{samples}",
                "--benchmarks",
                f"add={root / 'math.jsonl'}",
                "--n",
                "2",
                "-o",
                str(ev),
                "--logger",
                "wandb",
                "--step",
                "7",
            ]
        )
        == 0
    )
    (h,) = wandb_history(ev)
    results = json.loads((ev / "results.json").read_text())["benchmarks"]["add"]
    assert (
        h["_step"] == 7 and h["eval/add/avg@2"] == results["avg@2"] == 0.125
    )  # 1 of 8 responses is 46 = 12+34
    assert h["eval/add/pass@2"] == results["pass@k"]["2"] == 0.25


@pytest.mark.parametrize(
    "argv",
    [
        ["rl", "--config", "CFG", "--set", "logger=wandb"],
        ["sft", "DATA", "-o", "OUT", "--tiny", "--logger", "wandb"],
        [
            "eval",
            "--sampler",
            "samples:SAMPLES",
            "--benchmarks",
            "DATA",
            "--n",
            "1",
            "-o",
            "OUT",
            "--logger",
            "wandb",
        ],
    ],
)
def test_missing_wandb_is_a_one_line_error_naming_the_extra(tiny, tmp_path, argv):
    root, model = tiny
    cfg = tmp_path / "cfg.json"  # YAML is a superset of JSON
    cfg.write_text(
        json.dumps(
            {
                "model": str(model),
                "run_dir": str(tmp_path / "run"),
                "c3po": {"budget": 20},
                "stages": [{"name": "r", "datasets": {str(root / "math.jsonl"): 1.0}, "steps": 1}],
            }
        )
    )
    (tmp_path / "s.jsonl").write_text("")
    sub = {
        "CFG": str(cfg),
        "DATA": str(root / "math.jsonl"),
        "OUT": str(tmp_path / "out"),
        "samples:SAMPLES": f"samples:{tmp_path / 's.jsonl'}",
    }
    argv = [sub.get(a, a) for a in argv]
    code = (
        "import sys; sys.modules['wandb'] = None\n"  # as if the package were not installed
        "from cli.ring_train import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'ring-toolkit[wandb]'" in lines[0], proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()  # refused before any output


def test_openrlhf_gets_its_own_wandb_flags(tiny, tmp_path):
    import importlib.util

    from ring_train.backends.openrlhf import prepare_stage

    root, _ = tiny
    raw = {
        "model": "m",
        "run_dir": str(tmp_path / "run"),
        "backend": "openrlhf",
        "logger": "wandb",
        "c3po": {"budget": 64},
        "stages": [{"name": "r", "datasets": {str(root / "math.jsonl"): 1.0}, "steps": 1}],
    }
    cfg = from_dict(raw)
    argv = prepare_stage(cfg, cfg.stages[0], model="m", stage_dir=tmp_path / "st", n_gpus=1, resume=False)[
        "argv"
    ]
    assert argv[argv.index("--logger.wandb.key") + 1] == "from-environment"  # the real key stays in the env
    assert argv[argv.index("--logger.wandb.run_name") + 1] == "run-r"
    spec = importlib.util.find_spec("openrlhf")
    if spec is not None:  # the flags are OpenRLHF's own
        src = (Path(spec.origin).parent / "cli" / "train_ppo_ray.py").read_text()
        for flag in (
            "--logger.wandb.key",
            "--logger.wandb.project",
            "--logger.wandb.run_name",
            "--logger.tensorboard_dir",
        ):
            assert f'"{flag}"' in src, flag
    none = prepare_stage(
        from_dict({**raw, "logger": "none"}),
        cfg.stages[0],
        model="m",
        stage_dir=tmp_path / "s2",
        n_gpus=1,
        resume=False,
    )["argv"]
    assert not any(a.startswith("--logger.") for a in none)
