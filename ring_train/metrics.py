"""Run metrics: JSONL (one line per step, machine-readable), TensorBoard, Weights & Biases when asked
(``logger: wandb``), and PNG curves at the end. Every sink gets the same metric names."""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from ring_data import atomic, faults

log = logging.getLogger(__name__)

# tensorboard: metrics.jsonl + TensorBoard (default); wandb: the same plus a W&B run; none: metrics.jsonl only
LOGGERS = ("tensorboard", "wandb", "none")
WANDB_EXTRA = "pip install 'ring-toolkit[wandb]'"


def check_logger(logger: str) -> str:
    """``logger`` if it is one of :data:`LOGGERS`; a missing ``wandb`` package is a one-line error."""
    from ring_data.errors import UserError

    if logger not in LOGGERS:
        raise UserError(f"logger must be one of {', '.join(LOGGERS)}, got {logger!r}")
    if logger == "wandb":
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise UserError(f"logger=wandb needs the wandb package: {WANDB_EXTRA}") from None
    return logger


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {
        k: v
        for k, v in record.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "global_step"
    }


class Tracker:
    """The experiment trackers of a run dir: TensorBoard (``RUN/tensorboard``) unless ``logger`` is
    ``none``, and with ``logger="wandb"`` a W&B run under ``RUN/wandb`` (project ``$WANDB_PROJECT``, default
    ``ring-train``; ``WANDB_MODE=offline`` works without network: ``wandb sync RUN/wandb/offline-run-*``
    uploads it later). A resumed run continues the same W&B run (its id is kept in ``RUN/wandb_id``)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        logger: str = "tensorboard",
        config: dict[str, Any] | None = None,
        job_type: str = "train",
        resume: bool = False,
    ):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logger = check_logger(logger)
        self._tb = None
        self._wandb = None
        if logger != "none":
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.dir / "tensorboard"))
            except ImportError:
                log.info("tensorboard not installed; metrics go to metrics.jsonl only")
        if logger == "wandb":
            self._wandb = self._open_wandb(config or {}, job_type, resume)

    def _open_wandb(self, config: dict[str, Any], job_type: str, resume: bool):
        import wandb

        id_file = self.dir / "wandb_id"
        run_id = id_file.read_text().strip() if resume and id_file.is_file() else secrets.token_hex(4)
        atomic.write_text(id_file, run_id)
        return wandb.init(
            project=os.environ.get("WANDB_PROJECT") or "ring-train",
            name=os.environ.get("WANDB_NAME") or self.dir.name,
            dir=str(self.dir),
            config=config,
            job_type=job_type,
            id=run_id,
            resume="allow",
            reinit="create_new",
        )

    def log(self, record: dict[str, Any], step: int) -> None:
        values = _scalars(record)
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, step)
        if self._wandb is not None and values:
            self._wandb.log(values, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


class MetricsLog:
    def __init__(
        self,
        run_dir: str | Path,
        *,
        stages: list[str],
        resume_from_step: int | None = None,
        tensorboard: bool = True,
        logger: str = "tensorboard",
        config: dict[str, Any] | None = None,
    ):
        """Records of ``stages`` are redone by this run: on a fresh start they are dropped, on resume only
        those past the checkpoint (a killed run may have logged steps after its last checkpoint, and
        half of a last line). Records of other stages (e.g. ``reasoning`` before ``--stage general``)
        are kept. The file is rewritten atomically: a kill here leaves the old one."""
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
            atomic.write_text(self.path, "".join(json.dumps(r) + "\n" for r in keep))
        self._fh = self.path.open("a", encoding="utf-8")
        self.tracker = Tracker(
            self.dir,
            logger=logger if tensorboard or logger != "tensorboard" else "none",
            config=config,
            job_type="rl",
            resume=resume_from_step is not None,
        )

    def log(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        faults.point("metrics.log")
        self.tracker.log(record, record["global_step"])

    def close(self) -> None:
        self._fh.close()
        self.tracker.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``. A last line without its newline that is not JSON is a record
    a killed run did not finish writing: skipped (a resumed run logs that step again)."""
    lines = Path(path).read_text().split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise
    return records


CURVES = [
    ("reward/mean", "mean reward"),
    ("eval/pass_rate", "held-out pass rate (sampled)"),
    ("policy/entropy", "token entropy (nats)"),
    ("policy/kl", "KL to reference"),
    ("policy/grad_norm", "grad norm"),
    ("rollout/response_len", "response length (tokens)"),
    ("c3po/kept_tokens", "trained tokens / step"),
    ("perf/trained_tokens_per_s", "trained tokens / s"),
    # Mixture-of-Experts policies only (a dense run has none of these keys)
    ("router/drift", "routing drift: top-k differs, rollout vs training pass"),
    ("router/load_cv", "expert load CV (0 = even)"),
    ("router/entropy", "router entropy (nats)"),
    ("router/aux_loss", "router balancing loss"),
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
    with atomic.atomic_open(out, "wb") as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)
    return out
