"""The verl adapter called by verl's own code: verl 0.9.1's real reward managers (legacy
``NaiveRewardManager`` and ``BatchRewardManager``, and the reward-loop ``NaiveRewardManager`` that is
0.9.1's default) on a real ``DataProto``, with the function loaded by verl's own
``get_custom_reward_fn`` from a ``pkg://`` module path and from a file path. verl's wheel is installed
without its GPU stack into ``.venv/verl-api`` (Makefile, install-dev) and put on ``sys.path`` only here."""

import json
import sys
from pathlib import Path

import pytest

from verifiers import verify
from verifiers.adapters import verl as adapter

VERL_API = Path(sys.prefix) / "verl-api"
if VERL_API.is_dir() and str(VERL_API) not in sys.path:
    sys.path.append(str(VERL_API))

PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
ROWS = [  # (data_source, response, ground_truth, extra_info, expected score)
    ("openai/gsm8k", "She has 3 + 4 = 7 apples.\n#### 7", "7", {}, 1.0),
    ("openai/gsm8k", "She has 3 + 5 = 8 apples.\n#### 8", "7", {}, 0.0),
    ("lighteval/MATH", "<think>half</think> The answer is $\\boxed{\\frac{1}{2}}$", "0.5", {}, 1.0),
    ("lighteval/MATH", "\\boxed{3}", json.dumps({"answer": "2"}), {}, 0.0),
    (
        "codecontests",
        PROGRAM,
        json.dumps({"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}),
        {},
        1.0,
    ),
    (
        "my_countdown_set",
        "<answer>(25-5)*5</answer>",
        json.dumps({"numbers": [25, 5, 5], "target": 100}),
        {"domain": "countdown"},
        1.0,
    ),
]


@pytest.fixture(scope="module")
def verl():
    pytest.importorskip("verl", reason=f"verl's wheel is not installed in {VERL_API} (make install-dev)")
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    return OmegaConf, get_custom_reward_fn


@pytest.fixture(scope="module")
def tokenizer():
    from ring_data.annotate.tiny_model import SPECIALS, train_bpe_tokenizer

    texts = [r[1] for r in ROWS] + ["Question: how many?"] * 4
    return train_bpe_tokenizer(texts, 400, specials=SPECIALS)


def _data(tokenizer, rows, prompt_len=8, response_len=96):
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses."""
    import numpy as np
    import torch
    from verl import DataProto

    pad = tokenizer.pad_token_id
    prompts, responses, masks = [], [], []
    for _, resp, *_ in rows:
        p = tokenizer("Question: how many?", add_special_tokens=False).input_ids[-prompt_len:]
        r = tokenizer(resp, add_special_tokens=False).input_ids[:response_len]
        assert tokenizer.decode(r) == resp  # the manager decodes exactly the response
        prompts.append([pad] * (prompt_len - len(p)) + p)
        responses.append(r + [pad] * (response_len - len(r)))
        masks.append(
            [0] * (prompt_len - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (response_len - len(r))
        )
    return DataProto.from_single_dict(
        {
            "prompts": torch.tensor(prompts),
            "responses": torch.tensor(responses),
            "attention_mask": torch.tensor(masks),
            "data_source": np.array([r[0] for r in rows], dtype=object),
            "reward_model": np.array([{"ground_truth": r[2], "style": "rule"} for r in rows], dtype=object),
            "extra_info": np.array([dict(r[3]) for r in rows], dtype=object),
        }
    )


def _rewards(reward_tensor, data):
    plen = data.batch["prompts"].shape[-1]
    lengths = data.batch["attention_mask"][:, plen:].sum(-1)
    return [float(reward_tensor[i, lengths[i] - 1]) for i in range(len(data))]


def _fn(verl, name, path="pkg://verifiers.adapters.verl", **kwargs):
    OmegaConf, get_custom_reward_fn = verl
    cfg = OmegaConf.create(
        {"reward": {"custom_reward_function": {"path": path, "name": name, "reward_kwargs": kwargs}}}
    )
    return get_custom_reward_fn(cfg)


EXPECTED = [r[4] for r in ROWS]


def test_legacy_naive_reward_manager(verl, tokenizer):
    from verl.workers.reward_manager import NaiveRewardManager

    data = _data(tokenizer, ROWS)
    manager = NaiveRewardManager(tokenizer, num_examine=0, compute_score=_fn(verl, "compute_score"))
    out = manager(data, return_dict=True)
    assert _rewards(out["reward_tensor"], data) == EXPECTED
    assert out["reward_tensor"].sum().item() == sum(EXPECTED)  # one reward per response, at its last token


def test_legacy_batch_reward_manager_from_a_file_path(verl, tokenizer):
    from verl.workers.reward_manager import BatchRewardManager

    data = _data(tokenizer, ROWS)
    fn = _fn(verl, "compute_score_batch", path=adapter.__file__, return_dict=True, timeout=20)
    manager = BatchRewardManager(tokenizer, num_examine=0, compute_score=fn)
    out = manager(data, return_dict=True)
    assert _rewards(out["reward_tensor"], data) == EXPECTED
    assert out["reward_extra_info"]["acc"] == EXPECTED and out["reward_extra_info"]["timeout"] == [0.0] * len(
        ROWS
    )
    assert data.batch["acc"].tolist() == EXPECTED


def test_reward_loop_naive_manager_the_0_9_default(verl, tokenizer):
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

    OmegaConf, _ = verl
    data = _data(tokenizer, ROWS)
    manager = NaiveRewardManager(OmegaConf.create({}), tokenizer, _fn(verl, "compute_score"))
    got = [
        manager.loop.run_until_complete(manager.run_single(data[i : i + 1]))["reward_score"]
        for i in range(len(data))
    ]
    assert got == EXPECTED


def test_gsm8k_agrees_with_verls_own_scorer(verl):
    from verl.utils.reward_score import default_compute_score

    for response, truth in [
        ("so\n#### 72", "72"),
        ("#### 71", "72"),
        ("#### 1,000", "1000"),
        ("no marker 72", "72"),
    ]:
        ours = adapter.compute_score("openai/gsm8k", response, truth)
        assert ours == float(default_compute_score("openai/gsm8k", response, truth)), response


def test_signatures_and_domain_resolution():
    assert (
        adapter.compute_score_batch(
            [r[0] for r in ROWS], [r[1] for r in ROWS], [r[2] for r in ROWS], [r[3] for r in ROWS]
        )
        == EXPECTED
    )
    assert adapter.compute_score("math", "\\boxed{4}", 4) == 1.0  # a data_source that is a domain
    assert adapter.compute_score("x", "\\boxed{4}", "4", default_domain="math") == 1.0
    assert adapter.compute_score("mine", "\\boxed{4}", "4", sources={"mine": "math"}) == 1.0
    with pytest.raises(ValueError, match="no domain for verl data_source 'unknown/set'"):
        adapter.compute_score("unknown/set", "\\boxed{4}", "4")
    d = adapter.compute_score("lighteval/MATH", "\\boxed{4}", "4", return_dict=True)
    assert d == {"score": 1.0, "acc": 1.0, "timeout": 0.0}
    # the same verdict as verify() on the prepared response
    assert (
        adapter.compute_score("lighteval/MATH", "\\boxed{x}", "4")
        == verify("\\boxed{x}", {"answer": "4"}, "math").score
    )
