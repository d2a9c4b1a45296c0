"""Markdown + HTML reports with PNG plots, written next to a command's outputs (``--report DIR``).

One block list renders to both formats, so a report is built once::

    rep = Report(out_dir, "ring-data clean")
    rep.paragraph("200 rows in = 180 kept + 20 rejected")
    rep.table(["reason", "rows"], [["exact_duplicate", 12], ["contamination", 8]])
    rep.histogram("similarity", values, title="Near-duplicate similarity", xlabel="Jaccard")
    rep.write()   # -> out_dir/report.md, out_dir/report.html (+ PNGs)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic


@dataclass(frozen=True)
class _Block:
    kind: str  # heading | paragraph | table | image | code
    payload: Any


class Report:
    def __init__(self, out_dir: str | Path, title: str):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.title = title
        self._blocks: list[_Block] = []

    # ---- content -------------------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> None:
        self._blocks.append(_Block("heading", (level, text)))

    def paragraph(self, text: str) -> None:
        self._blocks.append(_Block("paragraph", text))

    def code(self, text: str) -> None:
        self._blocks.append(_Block("code", text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._blocks.append(_Block("table", (list(headers), [list(r) for r in rows])))

    def image(self, filename: str, alt: str = "") -> None:
        """Reference a PNG already written into ``out_dir``."""
        self._blocks.append(_Block("image", (filename, alt)))

    # ---- plots (matplotlib, headless) ------------------------------------------------------------
    def _figure(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt

    def histogram(
        self,
        name: str,
        values: Sequence[float] | dict[str, Sequence[float]],
        *,
        bins: int = 20,
        title: str = "",
        xlabel: str = "",
        range_: tuple[float, float] | None = None,
    ) -> str:
        """Histogram PNG (one series, or several overlaid from a dict); returns the file name."""
        plt = self._figure()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        series = values if isinstance(values, dict) else {"": values}
        for label, vals in series.items():
            ax.hist(
                list(vals),
                bins=bins,
                range=range_,
                alpha=0.6 if len(series) > 1 else 0.9,
                label=label or None,
            )
        if len(series) > 1:
            ax.legend()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        return self._save(fig, plt, name, title)

    def bars(self, name: str, counts: dict[str, float], *, title: str = "", ylabel: str = "count") -> str:
        plt = self._figure()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(list(map(str, counts)), list(counts.values()))
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", rotation=30)
        return self._save(fig, plt, name, title)

    def lines(
        self,
        name: str,
        series: dict[str, tuple[Sequence[float], Sequence[float]]],
        *,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
    ) -> str:
        """Line plot of ``{label: (xs, ys)}``."""
        plt = self._figure()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for label, (xs, ys) in series.items():
            ax.plot(list(xs), list(ys), label=label)
        if len(series) > 1:
            ax.legend()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        return self._save(fig, plt, name, title)

    def _save(self, fig, plt, name: str, alt: str) -> str:
        filename = name if name.endswith(".png") else f"{name}.png"
        fig.tight_layout()
        with atomic.atomic_open(self.out_dir / filename, "wb") as fh:
            fig.savefig(fh, format="png", dpi=100)
        plt.close(fig)
        self.image(filename, alt or name)
        return filename

    # ---- rendering -----------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for b in self._blocks:
            if b.kind == "heading":
                level, text = b.payload
                out += ["#" * level + " " + text, ""]
            elif b.kind == "paragraph":
                out += [b.payload, ""]
            elif b.kind == "code":
                out += ["```", b.payload, "```", ""]
            elif b.kind == "table":
                headers, rows = b.payload
                out.append("| " + " | ".join(map(_md_cell, headers)) + " |")
                out.append("|" + "---|" * len(headers))
                out += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
                out.append("")
            elif b.kind == "image":
                filename, alt = b.payload
                out += [f"![{alt}]({filename})", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        e = html.escape
        out = [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{e(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
            "pre{background:#f6f6f6;padding:.5em;overflow-x:auto}</style></head><body>",
            f"<h1>{e(self.title)}</h1>",
        ]
        for b in self._blocks:
            if b.kind == "heading":
                level, text = b.payload
                out.append(f"<h{level}>{e(text)}</h{level}>")
            elif b.kind == "paragraph":
                out.append(f"<p>{e(b.payload)}</p>")
            elif b.kind == "code":
                out.append(f"<pre>{e(b.payload)}</pre>")
            elif b.kind == "table":
                headers, rows = b.payload
                out.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in headers) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{e(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows]
                out.append("</table>")
            elif b.kind == "image":
                filename, alt = b.payload
                out.append(f"<p><img src='{e(filename)}' alt='{e(alt)}'></p>")
        out.append("</body></html>")
        return "\n".join(out)

    def write(self) -> tuple[Path, Path]:
        md, page = self.out_dir / "report.md", self.out_dir / "report.html"
        atomic.write_text(md, self.to_markdown())  # each file complete or absent (ring_data.atomic)
        atomic.write_text(page, self.to_html())
        return md, page


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _md_cell(value: Any) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")
