"""No silently ignored settings: every config key (walked from the RLConfig dataclass tree) is declared
by every backend as native, mapped or refused; a mapped key really changes what the OpenRLHF backend
launches; a refused key set to anything but its default stops the run in one line naming it."""

import importlib
import math
from pathlib import Path

import pytest

from ring_data.errors import UserError
from ring_data.rows import write_jsonl
from ring_train.backends import BACKENDS
from ring_train.backends.openrlhf import prepare_stage
from ring_train.backends.openrlhf.argv import warmup_ratio
from ring_train.backends.openrlhf.support import SUPPORT as OPENRLHF
from ring_train.backends.support import (
    REQUIRED,
    Mapped,
    Native,
    Refused,
    check_support,
    config_keys,
    default_of,
)
from ring_train.config import from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]

# a value other than the default for every key the OpenRLHF backend maps or refuses (valid for the
# config loader); a new config key fails test_every_key_has_an_alternative_value until it is listed
ALTERNATIVE = {
    "model": "other/model",
    "run_dir": "other_run",
    "stages": None,  # filled in by _raw: a stage of 5 steps instead of 3
    "seed": 7,
    "backend": "openrlhf",
    "checkpoint_every": 7,
    "max_tokens_per_micro": 1234,
    "lanes": 2,
    "device": "cuda",
    "precision": "bf16",
    "time_limit_s": 60.0,
    "logger": "wandb",
    "rollout.prompts_per_step": 4,
    "rollout.group_size": 4,
    "rollout.max_new_tokens": 12,
    "rollout.temperature": 0.7,
    "rollout.top_p": 0.9,
    "rollout.engine": "vllm",
    "rollout.vllm.gpu_memory_utilization": 0.5,
    "rollout.vllm.dtype": "float16",
    "rollout.vllm.enforce_eager": True,
    "rollout.vllm.max_model_len": 4096,
    "rollout.vllm.sleep": True,
    "c3po.enabled": False,
    "c3po.budget": 999,
    "c3po.scope": "rank",
    "c3po.order": "shuffle",
    "c3po.dp_size": 2,
    "c3po.refill_rounds": 0,
    "c3po.adaptive_prompts": False,
    "loss.eps_low": 0.1,
    "loss.eps_high": 0.3,
    "loss.dual_clip": 3.0,
    "loss.kl_beta": 0.01,
    "loss.kl_estimator": "k2",
    "loss.entropy_coef": 0.01,
    "loss.tis_cap": None,
    "loss.aggregation": "seq-mean",
    "loss.ratio_level": "sequence",
    "advantage.method": "rloo",
    "advantage.filter_zero_variance": False,
    "optim.lr": 3e-6,
    "optim.weight_decay": 0.1,
    "optim.warmup_steps": 2,
    "optim.grad_clip": 0.5,
    "optim.ppo_epochs": 2,
    "eval.data": None,  # filled in by _raw: another eval file
    "eval.every": 3,
    "eval.max_rows": 1,
    "eval.samples": 3,
    "eval.temperature": 0.6,
    "reward.workers": 2,
    "reward.timeout": 30.0,
    "reward.model": "some/rm",
    "reward.model_weight": 0.25,
    "moe.aux_loss_coef": 0.01,
    "moe.z_loss_coef": 1e-4,
}
# how the backend's train() hands these over: as arguments of prepare_stage, not through cfg
PASSED_BY_TRAIN = {"model", "run_dir", "backend"}
# alternatives that mean on OpenRLHF what the default means there (auto = its vLLM engines, DeepSpeed bf16)
SAME_THERE = {"rollout.engine", "precision"}
# alternatives OpenRLHF honours only together with other settings: both the base and the changed config
# of the key's test carry them (GSPO there averages per sequence and has no separate importance weights)
COMPANIONS = {"loss.ratio_level": {"loss.aggregation": "seq-mean", "loss.tis_cap": None}}


def _set(raw: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


@pytest.fixture
def data(tmp_path):
    rows = [
        {"id": str(i), "domain": "math", "prompt": f"{i}+1?", "reference": {"answer": str(i + 1)}}
        for i in range(4)
    ]
    write_jsonl(tmp_path / "math.jsonl", rows)
    write_jsonl(tmp_path / "heldout.jsonl", rows[:3])
    write_jsonl(tmp_path / "other_eval.jsonl", rows[1:])
    return tmp_path


def _raw(data: Path, key: str | None = None, companions_of: str | None = None) -> dict:
    """A config every backend accepts (an eval set, a KL term: the keys that depend on them count),
    with ``key`` set to its alternative value (and the :data:`COMPANIONS` of ``key`` or
    ``companions_of``)."""
    raw = {
        "model": "some/model",
        "run_dir": str(data / "run"),
        "stages": [{"name": "reasoning", "datasets": {str(data / "math.jsonl"): 1.0}, "steps": 3}],
        "c3po": {"budget": 512},
        "loss": {"kl_beta": 0.001},
        "eval": {"data": str(data / "heldout.jsonl")},
    }
    if key == "stages":
        raw["stages"] = [{"name": "reasoning", "datasets": {str(data / "math.jsonl"): 1.0}, "steps": 5}]
    elif key == "eval.data":
        raw["eval"]["data"] = str(data / "other_eval.jsonl")
    elif key is not None:
        _set(raw, key, ALTERNATIVE[key])
    for k, v in COMPANIONS.get(key or companions_of or "", {}).items():
        _set(raw, k, v)
    return raw


def _launched(cfg, data: Path, name: str) -> dict:
    """The launch spec and the files it points at, with the stage dir's name taken out."""
    stage_dir = data / "stages" / name
    spec = prepare_stage(cfg, cfg.stages[0], model="m", stage_dir=stage_dir, n_gpus=1, resume=False)
    files = {f.name: f.read_text() for f in sorted(stage_dir.glob("*.jsonl"))}
    return {"spec": repr(spec).replace(str(stage_dir), "STAGE"), "files": files}


def test_the_key_walk_finds_every_leaf_of_the_config_tree():
    keys = config_keys()
    assert len(keys) == len(set(keys)) and "stages" in keys
    assert {"rollout.vllm.sleep", "c3po.refill_rounds", "reward.model_weight", "optim.ppo_epochs"} <= set(
        keys
    )
    assert not any(k in ("rollout", "rollout.vllm", "loss", "c3po", "optim", "eval", "reward") for k in keys)
    assert default_of("optim.weight_decay") == 0.0 and default_of("rollout.engine") == "auto"


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_declares_every_config_key(backend):
    table = importlib.import_module(f"ring_train.backends.{backend}").SUPPORT
    assert set(table) == set(config_keys()), sorted(set(config_keys()) ^ set(table))
    assert all(isinstance(rule, Native | Mapped | Refused) for rule in table.values())
    for key, rule in table.items():  # a key without a default can only be honoured
        if default_of(key) is REQUIRED:
            assert not isinstance(rule, Refused), key


def test_the_embedded_backend_honours_everything():
    from ring_train.backends.embedded import SUPPORT

    assert all(isinstance(rule, Native) for rule in SUPPORT.values())


def test_every_key_has_an_alternative_value():
    assert set(ALTERNATIVE) == set(config_keys())
    for key, value in ALTERNATIVE.items():
        if value is not None or key == "loss.tis_cap":
            assert value != default_of(key), key


@pytest.mark.parametrize("key", sorted(k for k, r in OPENRLHF.items() if isinstance(r, Mapped)))
def test_a_mapped_key_changes_what_openrlhf_launches(key, data):
    """Each mapped key, set to another value, changes the launch spec (argv + environment)."""
    if key in PASSED_BY_TRAIN:
        pytest.skip(f"{key} reaches OpenRLHF through train()'s arguments to prepare_stage")
    base = from_dict(_raw(data, companions_of=key))
    changed = from_dict(_raw(data, key))
    check_support("openrlhf", changed, changed.stages, OPENRLHF)  # a value the backend accepts
    if key in SAME_THERE:
        assert _launched(base, data, "a") == _launched(changed, data, "b")
    else:
        assert _launched(base, data, "a") != _launched(changed, data, "b")


@pytest.mark.parametrize("key", sorted(k for k, r in OPENRLHF.items() if isinstance(r, Refused)))
def test_a_refused_key_stops_openrlhf_in_one_line_unless_it_is_the_default(key, data):
    cfg = from_dict(_raw(data))
    check_support("openrlhf", cfg, cfg.stages, OPENRLHF)  # the default is accepted
    changed = from_dict(_raw(data, key))
    with pytest.raises(UserError) as err:
        check_support("openrlhf", changed, changed.stages, OPENRLHF)
    message = str(err.value)
    assert (
        message.startswith("backend 'openrlhf' cannot honour ")
        and f"{key}=" in message
        and "\n" not in message
    )


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"precision": "fp32"}, "precision"),
        ({"rollout": {"engine": "hf"}}, "rollout.engine"),
        ({"rollout": {"group_size": 1}}, "rollout.group_size"),
        ({"loss": {"aggregation": "token-mean"}}, "loss.aggregation"),  # C3PO divides by Φ there
        ({"loss": {"ratio_level": "sequence"}}, "loss.ratio_level"),  # gspo there: seq-mean only
        ({"loss": {"ratio_level": "sequence", "aggregation": "seq-mean"}}, "loss.ratio_level"),  # TIS on
        ({"stages": [{"name": "s", "datasets": {"a.jsonl": 1}, "epochs": 0.5}]}, "stages"),
    ],
)
def test_values_without_an_openrlhf_equivalent_are_refused(patch, key, data):
    raw = _raw(data)
    for k, v in patch.items():
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) else v
    cfg = from_dict(raw)
    with pytest.raises(UserError, match=rf"cannot honour .*{key}="):
        check_support("openrlhf", cfg, cfg.stages, OPENRLHF)


def test_an_estimator_registered_without_an_openrlhf_name_is_refused_there(data):
    from ring_train.core.advantages import ADVANTAGES, register_advantage

    register_advantage("toy-centered")(lambda r: r - r.mean(dim=1, keepdim=True))
    try:
        cfg = from_dict({**_raw(data), "advantage": {"method": "toy-centered"}})
        with pytest.raises(UserError, match="advantage.method='toy-centered' \\(no OpenRLHF estimator"):
            check_support("openrlhf", cfg, cfg.stages, OPENRLHF)
        check_support(
            "embedded", cfg, cfg.stages, importlib.import_module("ring_train.backends.embedded").SUPPORT
        )
    finally:
        ADVANTAGES.remove("toy-centered")


def test_a_stage_override_is_checked_too(data):
    raw = _raw(data)
    raw["stages"][0]["overrides"] = {"reward.workers": 3}
    cfg = from_dict(raw)
    with pytest.raises(UserError, match="reward.workers=3"):
        check_support("openrlhf", cfg, cfg.stages, OPENRLHF)


def test_shipped_configs_on_openrlhf():
    plan = load_config(ROOT / "configs" / "two_stage.yaml", ["model=m"])
    check_support("openrlhf", plan, plan.stages, OPENRLHF)  # the GPU plan runs as written
    recipe = load_config(ROOT / "configs" / "cpu_recipe.yaml", ["model=m", "run_dir=r"])
    with pytest.raises(UserError, match=r"time_limit_s=590\.0 \(OpenRLHF has no wall-time limit\)"):
        check_support("openrlhf", recipe, recipe.stages, OPENRLHF)


def test_the_warmup_ratio_gives_openrlhf_exactly_the_configured_warmup_steps():
    for total in range(1, 400):
        for warm in (0, 1, 2, 3, 5, 7, 10, total // 3, total):
            if warm <= total:
                ratio = float(f"{warmup_ratio(warm, total):.12g}")  # as the argv writes it
                assert math.ceil(total * ratio) == warm, (warm, total)
