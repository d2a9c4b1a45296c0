"""Training backends. Each is a module ``ring_train.backends.<name>`` exposing
``train(cfg: RLConfig, stages: list[Stage], *, resume: bool) -> dict`` (the run summary).

``embedded``: one process, torch, this package's rollout/forward code; runs on CPU with a tiny model.
``openrlhf``: Ray + vLLM + DeepSpeed, patched with the same ``ring_train.core`` planner and losses
(a separate module; absent from CPU installs).
"""

from __future__ import annotations

import importlib

from ring_data.errors import UserError

BACKENDS = ("embedded", "openrlhf")


def get_backend(name: str):
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    module = f"ring_train.backends.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name in (module, "openrlhf", "vllm", "deepspeed", "ray", "flash_attn"):
            raise UserError(
                f"backend {name!r} is not available in this install (missing module {e.name!r})"
            ) from None
        raise
