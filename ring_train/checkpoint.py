"""Trainer checkpoints: policy (HF dir) + everything needed to continue exactly (optimizer, scheduler,
RNG streams, data position, stage). ``run_dir/checkpoints/LATEST`` names the newest one."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import torch

from ring_data.errors import UserError

from .models.load import save_policy


def save(run_dir: Path, name: str, model, tokenizer, state: dict[str, Any], keep_last: int = 2) -> Path:
    root = run_dir / "checkpoints"
    path = root / name
    tmp = root / (name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_policy(model, tokenizer, tmp / "policy")
    state = {**state, "python_rng": random.getstate(), "torch_rng": torch.get_rng_state()}
    torch.save(state, tmp / "trainer_state.pt")
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    (root / "LATEST").write_text(name + "\n")
    names = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.endswith(".tmp")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in names[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def latest(run_dir: Path) -> Path | None:
    marker = run_dir / "checkpoints" / "LATEST"
    if not marker.exists():
        return None
    path = run_dir / "checkpoints" / marker.read_text().strip()
    if not (path / "trainer_state.pt").exists():
        raise UserError(f"{path}: checkpoint named in LATEST is incomplete")
    return path


def stage_of(path: Path) -> str:
    """Checkpoint dirs are named ``<stage>-step<N>``."""
    return path.name.rsplit("-step", 1)[0]


def load_state(path: Path) -> dict[str, Any]:
    state = torch.load(
        path / "trainer_state.pt", weights_only=False, map_location="cpu"
    )  # the optimizer moves its state to the params' device
    random.setstate(state["python_rng"])
    torch.set_rng_state(state["torch_rng"])
    return state
