"""``report.md``, ``report.html`` and ``eval.png`` from ``results.json``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any


def _fmt(v: Any, pct: bool = True) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100 * v:.1f}" if pct else f"{v:,.1f}"
    return str(v)


def table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table (accuracies in %)."""
    n = results["protocol"]["n"]
    ks = [k for k in results["protocol"]["ks"] if k > 1]
    header = [
        "benchmark",
        "problems",
        f"avg@{n} (pass@1)",
        *[f"pass@{k}" for k in ks],
        *[f"maj@{k}" for k in ks],
        "mean tokens",
        "truncated %",
    ]
    rows = []
    for name, b in results["benchmarks"].items():
        if "prompt_level_strict" in b:  # IFEval: its own figures, in the avg@n column's place
            main = (
                f"prompt strict {_fmt(b['prompt_level_strict'])} / loose {_fmt(b['prompt_level_loose'])}; "
                f"instruction strict {_fmt(b['instruction_level_strict'])} / loose {_fmt(b['instruction_level_loose'])}"
            )
        else:
            main = _fmt(b.get(f"avg@{n}"))
        rows.append(
            [
                name,
                str(b["problems"]),
                main,
                *[_fmt(b["pass@k"].get(str(k))) for k in ks],
                *[_fmt(b.get("maj@k", {}).get(str(k))) for k in ks],
                _fmt(b.get("mean_response_tokens"), pct=False),
                _fmt(b.get("truncated_share")),
            ]
        )
    return header, rows


def markdown(results: dict[str, Any]) -> str:
    p = results["protocol"]
    header, rows = table(results)
    lines = [
        f"# ring-train eval: {results['sampler']}",
        "",
        f"n = {p['n']} samples per problem, temperature {p['temperature']}, top-p {p['top_p']}, "
        f"max {p['max_tokens']} tokens, seed {p['seed']}"
        + (f", first {p['limit']} problems per set" if p.get("limit") else "")
        + ". Accuracies in %; avg@n = pass@1 averaged over the n samples; pass@k unbiased (Codex estimator); "
        "maj@k = majority vote over k samples (math and science answers).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
        *["| " + " | ".join(r) + " |" for r in rows],
        "",
    ]
    return "\n".join(lines)


def html_page(results: dict[str, Any]) -> str:
    header, rows = table(results)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    intro = html.escape(markdown(results).splitlines()[2])
    return (
        "<!doctype html><meta charset='utf-8'><title>ring-train eval</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style>"
        f"<h1>ring-train eval: {html.escape(results['sampler'])}</h1><p>{intro}</p>"
        f"<table><tr>{head}</tr>{body}</table><p><img src='eval.png'></p>"
    )


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """pass@k against k for every benchmark (log2 x axis), maj@k dashed where there is one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = {n: b for n, b in results["benchmarks"].items() if b.get("pass@k")}
    if not benches:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, b in benches.items():
        ks = sorted(int(k) for k in b["pass@k"])
        (line,) = ax.plot(ks, [100 * b["pass@k"][str(k)] for k in ks], marker="o", label=f"{name} pass@k")
        maj = b.get("maj@k") or {}
        mk = sorted(int(k) for k in maj if maj[k] is not None)
        if mk:
            ax.plot(
                mk,
                [100 * maj[str(k)] for k in mk],
                linestyle="--",
                color=line.get_color(),
                label=f"{name} maj@k",
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (samples)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{results['sampler']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(results: dict[str, Any], out: Path) -> dict[str, Path]:
    paths = {"markdown": out / "report.md", "html": out / "report.html"}
    paths["markdown"].write_text(markdown(results), encoding="utf-8")
    paths["html"].write_text(html_page(results), encoding="utf-8")
    png = plot(results, out / "eval.png")
    if png is not None:
        paths["plot"] = png
    return paths
