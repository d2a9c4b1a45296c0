"""Entropy-based choice of the RL start point among SFT checkpoints (Ring-lite §4.3.1, C3PO's second part).

For each checkpoint: sample K responses per RL prompt at temperature 1, measure the policy's mean token
entropy (nats) over the sampled response tokens and the pass rate through ``verifiers``. A checkpoint
is eligible when its entropy lies in the window (paper: about 0.3-0.5 nats); among the eligible ones
the most-trained (last) wins. With none in the window, the one nearest to it is chosen, and the
result says so. Writes ``selection.md``, ``selection.jsonl``, ``selection.png`` and stats.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ring_data.errors import UserError

log = logging.getLogger(__name__)


@dataclass
class CheckpointScore:
    path: str
    entropy: float  # mean token entropy of sampled responses, nats
    pass_rate: float | None  # fraction of samples the verifier marks correct (None: no verifier)
    mean_response_tokens: float
    n_samples: int


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def find_checkpoints(paths: list[str | Path]) -> list[Path]:
    """Model directories in training order: each path is a model dir (has ``config.json``) or a run dir
    whose subdirectories are (``epoch-1``, ``epoch-2``, ... sorted naturally)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "config.json").exists():
            found.append(p)
        elif p.is_dir():
            subs = sorted((d for d in p.iterdir() if (d / "config.json").exists()), key=_natural_key)
            if not subs:
                raise UserError(f"{p}: no checkpoint directories (with config.json) inside")
            found += subs
        else:
            raise UserError(f"{p}: not a checkpoint directory")
    if not found:
        raise UserError("no checkpoints given")
    return found


def choose(scores: list[CheckpointScore], window: tuple[float, float]) -> tuple[int, bool]:
    """Index of the chosen checkpoint and whether it lies inside the window. Inside: the last (most
    trained) one; otherwise the one whose entropy is nearest to the window."""
    lo, hi = window
    if lo > hi:
        raise UserError(f"entropy window low {lo} is above high {hi}")
    inside = [i for i, s in enumerate(scores) if lo <= s.entropy <= hi]
    if inside:
        return inside[-1], True
    dist = [max(lo - s.entropy, s.entropy - hi) for s in scores]
    best = min(dist)
    return max(i for i, d in enumerate(dist) if d == best), False


def measure(
    path: str | Path,
    rows: list[dict[str, Any]],
    *,
    k: int = 4,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    seed: int = 0,
    verify: bool = True,
) -> CheckpointScore:
    """Sample ``k`` responses per row and measure mean token entropy and pass rate."""
    import torch

    from .evaluate import evaluate
    from .models.load import load_policy
    from .rewards import Rewarder

    model, tok = load_policy(path)
    rewarder = Rewarder() if verify else None
    try:
        m = evaluate(
            model,
            tok,
            rows,
            rewarder,
            samples=k,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            generator=torch.Generator().manual_seed(seed),
        )
    finally:
        if rewarder is not None:
            rewarder.close()
    return CheckpointScore(
        path=str(path),
        entropy=m["entropy"],
        pass_rate=m["pass_rate"] if verify else None,
        mean_response_tokens=m["response_len"],
        n_samples=len(rows) * k,
    )


@dataclass
class Selection:
    chosen: str
    in_window: bool
    window: tuple[float, float]
    scores: list[CheckpointScore]


def select_checkpoint(
    checkpoints: list[str | Path],
    rows: list[dict[str, Any]],
    out_dir: str | Path,
    *,
    window: tuple[float, float] = (0.3, 0.5),
    **measure_options: Any,
) -> Selection:
    """Measure every checkpoint on ``rows`` (RL prompts), choose one, write the table and plot."""
    from ring_data.runtime import progress, write_stats

    if not rows:
        raise UserError("no RL prompts to measure checkpoints on")
    paths = find_checkpoints(checkpoints)
    scores = [measure(p, rows, **measure_options) for p in progress(paths, desc="checkpoints", unit="ckpt")]
    idx, in_window = choose(scores, window)
    sel = Selection(str(paths[idx]), in_window, window, scores)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "selection.jsonl", "w") as f:
        for s in scores:
            f.write(json.dumps({**asdict(s), "chosen": s.path == sel.chosen}) + "\n")
    (out / "selection.md").write_text(render_table(sel))
    plot(sel, out / "selection.png")
    write_stats(
        out / "selection.stats.json",
        {"chosen": sel.chosen, "in_window": in_window, "window": list(window), "checkpoints": len(scores)},
    )
    return sel


def render_table(sel: Selection) -> str:
    lo, hi = sel.window
    lines = [
        f"# Checkpoint selection (entropy window {lo}-{hi} nats)",
        "",
        "| checkpoint | entropy (nats) | pass rate | mean response tokens | in window | chosen |",
        "|---|---:|---:|---:|:-:|:-:|",
    ]
    for s in sel.scores:
        pr = "n/a" if s.pass_rate is None else f"{s.pass_rate:.3f}"
        inside = "yes" if lo <= s.entropy <= hi else "no"
        chosen = "**yes**" if s.path == sel.chosen else ""
        lines.append(
            f"| {Path(s.path).name} | {s.entropy:.3f} | {pr} | {s.mean_response_tokens:.1f} | {inside} | {chosen} |"
        )
    note = "" if sel.in_window else "\nNo checkpoint lies in the window; the nearest one was chosen.\n"
    return "\n".join(lines) + "\n" + note


def plot(sel: Selection, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [Path(s.path).name for s in sel.scores]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.axhspan(*sel.window, color="tab:green", alpha=0.15, label="entropy window")
    ax.plot(x, [s.entropy for s in sel.scores], "o-", label="entropy (nats)")
    if all(s.pass_rate is not None for s in sel.scores):
        ax.plot(x, [s.pass_rate for s in sel.scores], "s--", label="pass rate")
    chosen = names.index(Path(sel.chosen).name)
    ax.axvline(chosen, color="tab:red", linestyle=":", label="chosen")
    ax.set_xticks(list(x), names, rotation=30, ha="right")
    ax.legend(fontsize=8)
    ax.set_title("SFT checkpoints on RL prompts")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
