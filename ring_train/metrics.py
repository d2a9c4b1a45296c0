"""Run metrics: JSONL (one line per step, machine-readable), TensorBoard, and PNG curves at the end."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class MetricsLog:
    def __init__(
        self,
        run_dir: str | Path,
        *,
        stages: list[str],
        resume_from_step: int | None = None,
        tensorboard: bool = True,
    ):
        """Records of ``stages`` are redone by this run: on a fresh start they are dropped, on resume only
        those past the checkpoint (a killed run may have logged steps after its last checkpoint).
        Records of other stages (e.g. ``reasoning`` before ``--stage general``) are kept."""
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "metrics.jsonl"
        self.last_other_step = 0
        if self.path.exists():
            keep = []
            for rec in read_metrics(self.path):
                if rec.get("stage") not in stages:
                    self.last_other_step = max(self.last_other_step, rec["global_step"])
                    keep.append(rec)
                elif resume_from_step is not None and rec["global_step"] <= resume_from_step:
                    keep.append(rec)
            self.path.write_text("".join(json.dumps(r) + "\n" for r in keep))
        self._fh = self.path.open("a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.dir / "tensorboard"))
            except ImportError:
                log.info("tensorboard not installed; metrics go to metrics.jsonl only")

    def log(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, int | float) and not isinstance(v, bool) and k != "global_step":
                    self._tb.add_scalar(k, v, record["global_step"])

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


CURVES = [
    ("reward/mean", "mean reward"),
    ("eval/pass_rate", "held-out pass rate (sampled)"),
    ("policy/entropy", "token entropy (nats)"),
    ("policy/kl", "KL to reference"),
    ("policy/grad_norm", "grad norm"),
    ("rollout/response_len", "response length (tokens)"),
    ("c3po/kept_tokens", "trained tokens / step"),
    ("perf/trained_tokens_per_s", "trained tokens / s"),
]


def plot_curves(records: list[dict[str, Any]], out_png: str | Path, title: str = "") -> Path | None:
    """One PNG with a panel per metric present in ``records`` (x = global step, stage boundaries marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a metric that never moves off zero (e.g. KL with beta 0) gets no panel
    panels = [(k, label) for k, label in CURVES if any(r.get(k) for r in records)]
    if not panels:
        return None
    cols = 2
    rows = (len(panels) + 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.6 * rows), squeeze=False)
    boundaries = [r["global_step"] for a, r in zip(records, records[1:]) if a.get("stage") != r.get("stage")]
    for ax, (key, label) in zip(axes.flat, panels):
        pts = [(r["global_step"], r[key]) for r in records if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 40 else None)
        for b in boundaries:
            ax.axvline(b, color="grey", linestyle=":")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
