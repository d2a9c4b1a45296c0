"""A tiny policy and a byte-level BPE tokenizer trained in code, saved as a local HF directory.

Recipe (no hub access needed): train a byte-level BPE with ``tokenizers`` on the task's own text
(prompts + SFT responses), wrap it in ``PreTrainedTokenizerFast`` (pad/eos set), build a causal LM
from a small config with a fixed seed, and ``save_pretrained`` both into one directory. Load it back
with :func:`ring_train.models.load.load_policy` (never ``AutoTokenizer``: in transformers 5 it rebuilds
a custom tokenizer as ``Qwen2Tokenizer`` and silently drops spaces).

Architectures (``arch``): ``qwen2`` (dense, the default: 0.6M parameters) and three Mixture-of-Experts
ones built from transformers' own MoE classes, each with 8 experts of which every token uses 2 (top-2),
sized so a token's *active* parameters match the dense model's (each expert is half as wide as the
dense MLP, two of them are active) while the total is about 3x: ``qwen3_moe`` (Qwen3-MoE, normalised
top-k weights, per-head q/k norms), ``qwen2_moe`` (Qwen2-MoE: plus a gated shared expert every token
uses) and ``mixtral`` (Mixtral). The Ring-lite policy itself is an MoE (16.8B total, 2.75B active).
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


# MoE settings on top of TINY_DEFAULTS (hidden 128, 4 layers): 8 experts, top-2, each expert 128 wide
# (two active = the dense model's 256-wide MLP); router_aux_loss_coef is transformers' default, used by
# SFT (ring_train.sft) as transformers' own training does
_MOE = {"num_experts_per_tok": 2, "router_aux_loss_coef": 0.001}
ARCHS: dict[str, tuple[str, str, dict]] = {
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "qwen3_moe": (
        "Qwen3MoeConfig",
        "Qwen3MoeForCausalLM",
        {**_MOE, "num_experts": 8, "moe_intermediate_size": 128, "norm_topk_prob": True, "head_dim": 32},
    ),
    "qwen2_moe": (
        "Qwen2MoeConfig",
        "Qwen2MoeForCausalLM",
        # 8 experts 96 wide + a shared expert 64 wide: 2 x 96 + 64 = 256 active, like the dense MLP
        {**_MOE, "num_experts": 8, "moe_intermediate_size": 96, "shared_expert_intermediate_size": 64},
    ),
    "mixtral": (
        "MixtralConfig",
        "MixtralForCausalLM",
        # Mixtral's experts are intermediate_size wide; no sliding window, no router jitter
        {**_MOE, "num_local_experts": 8, "intermediate_size": 128, "sliding_window": None},
    ),
}
MOE_ARCHS = tuple(a for a in ARCHS if a != "qwen2")


def build_tiny_model(tokenizer, seed: int = 0, arch: str = "qwen2", **overrides):
    """A freshly initialised tiny causal LM of architecture ``arch`` (:data:`ARCHS`); ``overrides``
    replace config values (sizes, expert counts)."""
    import torch
    import transformers

    if arch not in ARCHS:
        from ring_data.errors import UserError

        raise UserError(f"tiny model arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    config_cls, model_cls, arch_defaults = ARCHS[arch]
    cfg = getattr(transformers, config_cls)(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
        **{**TINY_DEFAULTS, **arch_defaults, **overrides},
    )
    torch.manual_seed(seed)
    return getattr(transformers, model_cls)(cfg).float()


def create_tiny_policy(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 384,
    seed: int = 0,
    arch: str = "qwen2",
    **model_overrides,
) -> Path:
    """Train the tokenizer on ``texts``, build the model (``arch``: :data:`ARCHS`), save both to
    ``out_dir``; returns the path."""
    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    model = build_tiny_model(tokenizer, seed=seed, arch=arch, **model_overrides)
    out.mkdir(parents=True, exist_ok=True)
    return save_policy(model, tokenizer, out)
