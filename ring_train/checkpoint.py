"""Trainer checkpoints: policy (HF dir) + everything needed to continue exactly (optimizer, scheduler,
RNG streams, data position, stage). ``run_dir/checkpoints/LATEST`` names the newest one."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ring_data import atomic, faults
from ring_data.errors import CorruptStateError

from .models.load import save_policy

KEEP_LAST = 2  # checkpoints kept per run dir (the newest, which LATEST names, and the one before)


def save(
    run_dir: Path, name: str, model, tokenizer, state: dict[str, Any], keep_last: int = KEEP_LAST
) -> Path:
    """Write checkpoint ``name`` so that a kill at any moment leaves ``LATEST`` naming a complete one:
    everything goes to ``NAME.tmp`` (fsynced), which is then swapped in for ``NAME``
    (:func:`ring_data.atomic.replace_dir`); only then does ``LATEST`` (replaced atomically) name it.
    Older checkpoints are pruned last, never the one ``LATEST`` names."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    tmp = root / (name + ".tmp")
    _clear_unfinished(root)
    save_policy(model, tokenizer, tmp / "policy")
    faults.point("checkpoint.save")
    state = {**state, "python_rng": random.getstate(), "torch_rng": torch.get_rng_state()}
    torch.save(state, tmp / "trainer_state.pt")
    faults.point("checkpoint.save")
    atomic.replace_dir(tmp, path)
    faults.point("checkpoint.save")
    atomic.write_text(root / "LATEST", name + "\n")
    faults.point("checkpoint.save")
    prune(run_dir, path, keep_last)
    return path


def prune(run_dir: Path, keep: Path, keep_last: int = KEEP_LAST) -> None:
    """Delete all but the ``keep_last`` newest checkpoints, never ``keep`` (the one LATEST names). Also
    called when a run resumes: a run killed between writing LATEST and pruning left one too many.
    Newest by when the trainer state was saved (a folder's own time changes as files in it are
    deleted); a checkpoint is first renamed out of the checkpoint names, then deleted, so a kill in
    the middle leaves a hidden ``.NAME.old`` (removed by the next save or resume), not half a checkpoint."""
    root = run_dir / "checkpoints"
    _clear_unfinished(root)

    def saved_at(path: Path) -> float:
        state = path / "trainer_state.pt"
        return state.stat().st_mtime if state.exists() else 0.0  # incomplete: the first to go

    names = sorted(
        (p for p in root.iterdir() if p.is_dir() and _CHECKPOINT_NAME.fullmatch(p.name) and p != keep),
        key=saved_at,
    )
    for old in names[: max(0, len(names) - (keep_last - 1))]:
        trash = root / f".{old.name}.old"
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(old, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _clear_unfinished(root: Path) -> None:
    """Remove the saves (``NAME.tmp``) and deletions (``.NAME.old``) a killed run did not finish."""
    for stale in [*root.glob("*.tmp"), *root.glob(".*.old")]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


_CHECKPOINT_NAME = re.compile(r".+-step\d+")


def latest(run_dir: Path) -> Path | None:
    """The checkpoint ``checkpoints/LATEST`` names; None when there is none. A marker that names no
    complete checkpoint is a :class:`CorruptStateError` (resuming from an older one is the user's call)."""
    marker = run_dir / "checkpoints" / "LATEST"
    if not marker.exists():
        return None
    try:
        name = marker.read_text().strip()
    except UnicodeDecodeError:
        raise CorruptStateError(marker, "is not text", fix=_FIX) from None
    if not name or "/" in name or name in (".", ".."):
        raise CorruptStateError(marker, f"does not name a checkpoint ({name[:40]!r})", fix=_FIX)
    path = run_dir / "checkpoints" / name
    if not (path / "trainer_state.pt").exists():
        raise CorruptStateError(
            path, "checkpoint named in checkpoints/LATEST is incomplete (no trainer_state.pt)", fix=_FIX
        )
    return path


_FIX = (
    "write the name of an earlier complete checkpoint into checkpoints/LATEST to resume from it, "
    "or start a new run_dir"
)
# what the trainer reads from the state before anything else (the rest is read by the backend)
_STATE_KEYS = ("python_rng", "torch_rng", "stage", "global_step", "step")


def stage_of(path: Path) -> str:
    """Checkpoint dirs are named ``<stage>-step<N>``."""
    return path.name.rsplit("-step", 1)[0]


def load_state(path: Path) -> dict[str, Any]:
    """The trainer state of checkpoint ``path``, after checking that its state and its policy files
    can be read (a truncated or garbled file is a :class:`CorruptStateError` naming it, before any RNG
    or weight is touched); restores the RNG streams."""
    file = path / "trainer_state.pt"
    try:
        state = torch.load(file, weights_only=False, map_location="cpu")  # the optimizer moves its
        # state to the params' device
    except (PermissionError, FileNotFoundError):
        raise  # the environment, not the file's content (torch reports some damage as OSError too)
    except Exception as e:  # noqa: BLE001 - torch reports a damaged archive as RuntimeError, pickle, EOF, ...
        raise CorruptStateError(file, f"is corrupt or truncated ({_first_line(e)})", fix=_FIX) from None
    missing = [k for k in _STATE_KEYS if k not in state] if isinstance(state, dict) else list(_STATE_KEYS)
    if missing:
        raise CorruptStateError(file, f"is not a trainer state (no {missing[0]!r})", fix=_FIX)
    check_policy_files(path / "policy")
    random.setstate(state["python_rng"])
    torch.set_rng_state(state["torch_rng"])
    return state


def check_policy_files(policy: Path) -> None:
    """A saved policy whose weights or JSON files cannot be read fails here, with one line naming the
    file, instead of deep inside transformers. Cheap: safetensors files are checked by their header,
    which also catches a file shorter or longer than the header says (not a change in place)."""
    from safetensors import safe_open

    if not policy.is_dir():
        raise CorruptStateError(policy, "policy folder is missing", fix=_FIX)
    weights = sorted(policy.glob("*.safetensors")) + sorted(policy.glob("*.bin"))
    if not weights:
        raise CorruptStateError(policy, "policy folder has no weights file", fix=_FIX)
    for f in sorted(policy.glob("*.json")):
        try:
            json.loads(f.read_bytes())
        except ValueError as e:
            raise CorruptStateError(f, f"is not valid JSON ({_first_line(e)})", fix=_FIX) from None
    for f in weights:
        if f.suffix != ".safetensors":
            continue
        try:
            with safe_open(str(f), framework="pt") as handle:
                handle.keys()
        except Exception as e:  # noqa: BLE001 - SafetensorError is not exported under one name
            found = re.search(r"\(os error (\d+)\)", str(e))
            if found:  # the environment (permissions, ...), not the file's content
                code = int(found.group(1))
                raise OSError(code, os.strerror(code), str(f)) from None
            raise CorruptStateError(f, f"is corrupt or truncated ({_first_line(e)})", fix=_FIX) from None


def _first_line(e: BaseException) -> str:
    """The library's first sentence (torch adds a paragraph of advice after it)."""
    text = str(e).strip().splitlines()
    return (text[0].split(". ")[0] if text else type(e).__name__)[:200]
