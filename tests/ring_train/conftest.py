"""Shared fixtures: a tiny Llama-family policy (4 query heads over 2 KV heads, so grouped-query
attention is exercised) built in code, loaded once per module that asks for it."""

import pytest

from ring_train.models.load import load_policy
from ring_train.models.tiny import create_tiny_policy

TEXTS = ["What is 12 + 34? The answer is 46.", "Compute 7 * 8. It is 56.", "abc def ghi"] * 5


def tiny_gqa_policy(root, seed: int):
    path = create_tiny_policy(
        root / "p",
        TEXTS,
        vocab_size=300,
        seed=seed,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
    )
    return load_policy(path)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    """(model in eval mode, tokenizer)."""
    model, tok = tiny_gqa_policy(tmp_path_factory.mktemp("policy"), seed=1)
    return model.eval(), tok
