"""``ring-train select-checkpoint``: entropy-based choice of the RL start (Ring-lite §4.3.1).

For each SFT checkpoint, sample on RL prompts (temperature 1) and measure the mean token entropy of the
sampled tokens (nats) and the pass rate. Pick the most-trained checkpoint whose entropy lies in the
window (paper: about 0.3-0.5; configurable); if none does, the one closest to the window. Writes
``selection.md`` / ``selection.json`` and ``entropy.png`` to the report dir.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ring_data.errors import UserError
from ring_data.runtime import progress

from .data import read_problem_rows
from .device import resolve_device
from .evaluate import evaluate
from .models.load import load_policy
from .rewards import Rewarder


@dataclass
class Measured:
    path: str
    entropy: float
    pass_rate: float
    response_len: float
    in_window: bool = False
    chosen: bool = False


def expand_checkpoints(paths: list[str]) -> list[Path]:
    """Model dirs as given; a dir without config.json expands to its ``epoch_<n>`` children in order."""
    out = []
    for p in map(Path, paths):
        if (p / "config.json").exists():
            out.append(p)
            continue
        kids = sorted(
            (k for k in p.glob("epoch_*") if (k / "config.json").exists()),
            key=lambda k: int(re.sub(r"\D", "", k.name) or 0),
        )
        if not kids:
            raise UserError(f"{p}: not a model directory and has no epoch_<n> checkpoints")
        out += kids
    return out


def choose(measured: list[Measured], low: float, high: float) -> Measured:
    """The last (most-trained) checkpoint inside [low, high]; else the closest to the window."""
    for m in measured:
        m.in_window = low <= m.entropy <= high
    inside = [m for m in measured if m.in_window]
    best = inside[-1] if inside else min(measured, key=lambda m: max(low - m.entropy, m.entropy - high))
    best.chosen = True
    return best


def select_checkpoint(
    checkpoints: list[str],
    prompts: str,
    report_dir: str | Path,
    *,
    window: tuple[float, float] = (0.3, 0.5),
    max_rows: int = 64,
    samples: int = 4,
    max_new_tokens: int = 256,
    seed: int = 0,
    workers: int | None = None,
    device: str = "auto",
) -> tuple[Path, list[Measured]]:
    low, high = window
    if not 0 <= low < high:
        raise UserError(f"entropy window must satisfy 0 <= low < high, got {low} {high}")
    rows = read_problem_rows(prompts)[:max_rows]
    rewarder = Rewarder(workers=workers)
    measured = []
    try:
        for path in progress(expand_checkpoints(checkpoints), desc="select-checkpoint", unit="ckpt"):
            model, tok = load_policy(path, device=resolve_device(device))
            res = evaluate(
                model,
                tok,
                rows,
                rewarder,
                samples=samples,
                temperature=1.0,
                max_new_tokens=max_new_tokens,
                generator=torch.Generator().manual_seed(seed),
            )
            measured.append(Measured(str(path), res["entropy"], res["pass_rate"], res["response_len"]))
    finally:
        rewarder.close()
    best = choose(measured, low, high)
    _report(Path(report_dir), measured, window)
    return Path(best.path), measured


def _report(out: Path, measured: list[Measured], window: tuple[float, float]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "selection.json").write_text(
        json.dumps({"window": window, "checkpoints": [asdict(m) for m in measured]}, indent=2)
    )
    lines = [
        f"Entropy window: {window[0]}-{window[1]} nats (sampled at temperature 1 on RL prompts)",
        "",
        "| checkpoint | entropy (nats) | pass rate | mean length | in window | chosen |",
        "|---|---|---|---|---|---|",
    ]
    for m in measured:
        lines.append(
            f"| {m.path} | {m.entropy:.3f} | {m.pass_rate:.3f} | {m.response_len:.1f} | "
            f"{'yes' if m.in_window else 'no'} | {'**yes**' if m.chosen else ''} |"
        )
    (out / "selection.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    xs = list(range(1, len(measured) + 1))
    ax.axhspan(window[0], window[1], color="green", alpha=0.12, label="entropy window")
    ax.plot(xs, [m.entropy for m in measured], marker="o", label="entropy (nats)")
    ax2 = ax.twinx()
    ax2.plot(xs, [m.pass_rate for m in measured], marker="s", color="tab:orange", label="pass rate")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("pass rate")
    chosen = next(i for i, m in zip(xs, measured) if m.chosen)
    ax.axvline(chosen, color="grey", linestyle=":")
    ax.set_xticks(xs, [Path(m.path).name for m in measured], rotation=30, fontsize=7)
    ax.set_ylabel("entropy (nats)")
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "entropy.png", dpi=90)
    plt.close(fig)
