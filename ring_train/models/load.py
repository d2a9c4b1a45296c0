"""Load a policy (causal LM + tokenizer) from a local HF directory, fp32, on a given device."""

from __future__ import annotations

from pathlib import Path

from ring_data.errors import UserError


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = Path(path)
    # a tokenizer.json is loaded as is: AutoTokenizer may rebuild a custom one and drop spaces
    tok = (
        PreTrainedTokenizerFast.from_pretrained(path)
        if (path / "tokenizer.json").exists()
        else AutoTokenizer.from_pretrained(path)
    )
    if tok.eos_token_id is None:
        raise UserError(f"{path}: tokenizer has no eos token")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_policy(path: str | Path, *, device="cpu"):
    """Returns ``(model, tokenizer)``. Raises a one-line UserError for a path that is not a model dir."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if not (path / "config.json").exists():
        raise UserError(f"{path}: not a model directory (no config.json)")
    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="float32").to(device)
    return model, tok
