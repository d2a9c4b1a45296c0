"""Where the embedded backend runs: the ``device`` setting resolved to a torch device, and the autocast
context that ``precision: bf16`` puts around forward passes."""

from __future__ import annotations

import contextlib

import torch

from ring_data.errors import UserError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the first CUDA device when torch sees one, else CPU. An explicit CUDA device that
    torch cannot use is a one-line error (a CPU-only torch build is the usual cause)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise UserError(f"device {name}: torch sees no CUDA device (torch {torch.__version__}, {build})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return device


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` for ``precision: bf16``; nothing for fp32. Autocast state is per
    thread, so code running forwards on worker threads enters this there (see ``Lanes``)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
