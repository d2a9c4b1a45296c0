import pytest

from ring_data.errors import UserError
from ring_train.config import aggregation, from_dict, load_config, save_resolved

BASE = {
    "model": "m",
    "run_dir": "r",
    "stages": [{"name": "reasoning", "datasets": {"a.jsonl": 1}, "steps": 3}],
}


def test_defaults_overrides_and_resolved_copy(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "model: m\nrun_dir: r\nc3po: {budget: 512}\n"
        "stages:\n  - {name: reasoning, datasets: {a.jsonl: 1}, steps: 3, overrides: {rollout.max_new_tokens: 8}}\n"
    )
    cfg = load_config(path, ["optim.lr=1e-4", "loss.eps_high=0.28", "c3po.enabled=false"])
    assert cfg.optim.lr == 1e-4 and cfg.loss.eps_high == 0.28 and not cfg.c3po.enabled
    assert aggregation(cfg) == "seq-mean"
    assert cfg.for_stage(cfg.stages[0]).rollout.max_new_tokens == 8
    assert cfg.rollout.max_new_tokens == 64
    out = save_resolved(cfg, tmp_path / "run")
    again = load_config(out)
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"optim": {"lr": "fast"}}, "key 'optim.lr': expected float"),
        ({"optim": {"lrr": 1}}, "unknown key 'optim.lrr'"),
        ({"c3po": {"budget": None}}, "key 'c3po.budget'"),
        ({"c3po": {"enabled": False}, "loss": {"aggregation": "constant"}}, "needs c3po.enabled"),
        ({"loss": {"kl_estimator": "k9"}}, "must be one of k1, k2, k3"),
        ({"stages": [{"name": "x", "datasets": "a", "steps": 0}]}, "stages[0].steps"),
    ],
)
def test_bad_configs_are_one_line_errors(patch, message):
    raw = {**BASE, "c3po": {"budget": 100}}
    for k, v in patch.items():
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) and isinstance(raw.get(k), dict) else v
    with pytest.raises(UserError) as e:
        from_dict(raw, "cfg.yaml")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith("cfg.yaml")


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: m\nstages: [\n")
    with pytest.raises(UserError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_config(path)


def test_shipped_configs_parse():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    two = load_config(root / "two_stage.yaml", ["model=m"])
    assert [s.name for s in two.stages] == ["reasoning", "general"]
    assert two.for_stage(two.stages[1]).rollout.max_new_tokens == 1024
    recipe = load_config(root / "cpu_recipe.yaml", ["model=m", "run_dir=r"])
    assert recipe.c3po.enabled and aggregation(recipe) == "constant"


def test_cli_errors_are_one_line_exit_2(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    base = [
        sys.executable,
        "-m",
        "cli.ring_train",
        "rl",
        "--config",
        "configs/cpu_recipe.yaml",
        "--run-dir",
        str(tmp_path),
    ]
    for extra, needle in [
        (["--model", str(tmp_path / "nope")], "not a model directory"),
        (["--model", "m", "--backend", "openrlhf"], "openrlhf"),
    ]:
        proc = subprocess.run(base + extra, cwd=root, capture_output=True, text=True)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
