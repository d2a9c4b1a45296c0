import pytest
import torch

from ring_data.errors import UserError
from ring_train.models.tiny import train_tokenizer
from ring_train.rewards import Rewarder


def _reward_model(path):
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    tok = train_tokenizer(["Compute 1+2.", "<think>1+2=3</think>\\boxed{3}"], vocab_size=280)
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    Qwen2ForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)


def test_verifier_scores_blend_with_a_local_reward_model(tmp_path):
    _reward_model(tmp_path / "rm")
    r = Rewarder(reward_model=str(tmp_path / "rm"), model_weight=0.25)
    try:
        items = [
            ("<think>1+2=3</think>\\boxed{3}", {"answer": "3"}, "math"),
            ("\\boxed{4}", {"answer": "3"}, "math"),
        ]
        scored = r.submit(items).result()
        assert scored.scores == [1.0, 0.0] and scored.statuses == ["correct", "wrong"]
        rm = r.rm.score(["Compute 1+2."] * 2, [it[0] for it in items])
        blended = r.blend(["Compute 1+2."] * 2, [it[0] for it in items], scored.scores)
        assert all(0.0 < m < 1.0 for m in rm)
        assert blended == pytest.approx([0.75 + 0.25 * rm[0], 0.25 * rm[1]])
    finally:
        r.close()
    with pytest.raises(UserError, match="not a model directory"):
        Rewarder(reward_model=str(tmp_path / "missing"))
