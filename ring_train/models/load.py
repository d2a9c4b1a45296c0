"""Load and save a policy (causal LM + tokenizer) as a local HF directory, fp32, on a given device.

transformers draws a progress bar for every checkpoint it reads or writes ("Loading weights", "Writing
model shards"). A trainer touches small checkpoints many times (every stage start, resume, checkpoint,
SFT epoch), where each bar lasts milliseconds and buries the run's own output; those loads and saves
run without bars. Checkpoints of a gigabyte or more keep them. Warnings and errors are logging, not
bars, and are never hidden.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ring_data.errors import UserError

QUIET_BELOW_BYTES = 1 << 30  # weights this small load or save in about a second: no bar


def _weight_bytes(source) -> int:
    """Bytes of the weights of a model dir or of an in-memory model."""
    if isinstance(source, str | Path):
        files = [f for f in Path(source).iterdir() if f.suffix in (".safetensors", ".bin", ".pt")]
        return sum(f.stat().st_size for f in files)
    return sum(p.numel() * p.element_size() for p in source.parameters())


@contextlib.contextmanager
def quiet_weight_io(source) -> Iterator[None]:
    """No transformers progress bars while the weights of ``source`` (a model dir or a model) are read
    or written, when they are small; the previous bar setting is restored afterwards."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars
    from transformers.utils import logging as hf_logging

    if not hf_logging.is_progress_bar_enabled() or _weight_bytes(source) >= QUIET_BELOW_BYTES:
        yield
        return
    hub_bars_off = are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()
        if hub_bars_off:
            disable_progress_bars()


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
    with quiet_weight_io(path):
        model = AutoModelForCausalLM.from_pretrained(path, dtype="float32").to(device)
    return model, tok


def save_policy(model, tokenizer, path: str | Path) -> Path:
    """Write ``model`` and ``tokenizer`` as one HF directory; returns the path."""
    with quiet_weight_io(model):
        model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)
