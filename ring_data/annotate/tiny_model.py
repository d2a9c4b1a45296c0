"""A tiny Qwen2-architecture model with its own ``tokenizers`` tokenizer, optionally trained for a few
seconds on (prompt, response) pairs: for smoke tests, the benchmark and trying the samplers on a CPU.

Training on several responses for one prompt teaches the model a distribution over them, which is how
tests get pass rates strictly between 0 and 1 from a real model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def train_bpe_tokenizer(
    texts: Sequence[str], vocab_size: int, *, specials: Sequence[str], split_digits: bool = False
):
    """Byte-level BPE trained on ``texts`` with ``tokenizers``, wrapped in ``PreTrainedTokenizerFast``
    (pad = ``specials[0]``, eos = ``specials[1]``). ``split_digits`` makes every digit its own token,
    which is what lets a tiny model learn arithmetic. Shared with ``ring_train.models.tiny``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if split_digits
        else byte_level
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token=specials[0], eos_token=specials[1])


def build_tiny_model(
    out_dir: str | Path,
    *,
    corpus: Sequence[str] = (),
    train_pairs: Sequence[tuple[str, str]] = (),
    steps: int = 0,
    lr: float = 3e-3,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int = 512,
    seed: int = 0,
) -> Path:
    """Write model + tokenizer to ``out_dir`` (loadable with ``hf:out_dir``). With ``steps > 0`` the model is
    trained on ``train_pairs`` (user text -> response, chat template applied, loss on the response)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    texts = list(corpus) + [t for pair in train_pairs for t in pair]
    tok = train_bpe_tokenizer(texts or ["hello world"], vocab_size, specials=SPECIALS)
    tok.chat_template = CHAT_TEMPLATE
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config)
    if steps > 0 and train_pairs:
        _train(model, tok, train_pairs, steps=steps, lr=lr)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    # declare the plain tokenizers class so samplers do not rebuild it as a Qwen2 tokenizer
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return out_dir


def _train(model, tok, pairs: Sequence[tuple[str, str]], *, steps: int, lr: float) -> None:
    import torch

    ids, labels = [], []
    for user, response in pairs:
        prefix = tok.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )
        p = tok(prefix, add_special_tokens=False)["input_ids"]
        r = tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids.append(p + r)
        labels.append([-100] * len(p) + r)
    width = max(map(len, ids))
    pad = tok.pad_token_id
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    label_t = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=mask, labels=label_t).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
