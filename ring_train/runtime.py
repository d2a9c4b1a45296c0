"""Process settings for CPU training."""

from __future__ import annotations

import os


def set_threads(n: int | None) -> None:
    """Passive OpenMP waiting (a spinning wait stalls 2-core machines) and an explicit thread count."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if n:
        torch.set_num_threads(n)
