"""A tiny Qwen2 policy and a byte-level BPE tokenizer trained in code, saved as a local HF directory.

Recipe (no hub access needed): train a byte-level BPE with ``tokenizers`` on the task's own text
(prompts + SFT responses), wrap it in ``PreTrainedTokenizerFast`` (pad/eos set), build a
``Qwen2ForCausalLM`` from a small config with a fixed seed, and ``save_pretrained`` both into one
directory. Load it back with :func:`ring_train.models.load.load_policy` (never ``AutoTokenizer``: in
transformers 5 it rebuilds a custom tokenizer as ``Qwen2Tokenizer`` and silently drops spaces).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .load import save_policy

EOS = "<|endoftext|>"
PAD = "<|pad|>"

# ~0.6M parameters at vocab 384 (the size used in trainers.md §9 calibration)
TINY_DEFAULTS = {
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 256,
    "max_position_embeddings": 256,
}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 384):
    """Byte-level BPE trained on ``texts``, one token per digit (arithmetic is learnable when numbers are
    not merged arbitrarily); returns a ``PreTrainedTokenizerFast``."""
    from ring_data.annotate.tiny_model import train_bpe_tokenizer

    return train_bpe_tokenizer(list(texts), vocab_size, specials=[PAD, EOS], split_digits=True)


def build_tiny_model(tokenizer, seed: int = 0, **overrides):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
        **{**TINY_DEFAULTS, **overrides},
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(cfg).float()


def create_tiny_policy(
    out_dir: str | Path, texts: Iterable[str], *, vocab_size: int = 384, seed: int = 0, **model_overrides
) -> Path:
    """Train the tokenizer on ``texts``, build the model, save both to ``out_dir``; returns the path."""
    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    model = build_tiny_model(tokenizer, seed=seed, **model_overrides)
    out.mkdir(parents=True, exist_ok=True)
    return save_policy(model, tokenizer, out)
