"""ring-data clean vs datatrove / datasketch / rensa MinHash dedup on one seeded corpus.

    .venv/bin/python benchmarks/clean.py                 # 200k rows, all systems (~3 min on 2 cores)
    .venv/bin/python benchmarks/clean.py --repeats 3     # 3 rounds, medians (the README's table, ~6 min)
    .venv/bin/python benchmarks/clean.py --corpus mixed --repeats 3 --systems ring-data,datasketch
    .venv/bin/python benchmarks/clean.py --rows 10000000 --systems ring-data   # the 10M-row target

The corpus (``ring_data.clean.corpus``) has known clusters: formatting variants, <=10% word edits,
and same-template problems with other numbers (distinct problems). ``--corpus math`` (default):
short math problems; ``--corpus mixed``: a third each of math, science (quantities with units, a
numeric reference with its unit) and code (a task with an input bound, stdin/stdout tests in the
reference), ~300-character prompts. It is written by ``write_corpus`` (rows never all in memory, so
10M rows fit). Every system runs end to end in its own process (read JSONL -> dedup -> write kept
rows) on the same file; wall time, CPU time and peak RSS of the process tree (psutil, sampled every
50 ms), the machine's load average during the run and pairwise precision/recall against the true
clusters are reported. Peers run with their usual settings:
word 5-gram shingles, 128 permutations, threshold 0.8 (datatrove: its defaults, 14x8 bands,
numbers normalised to 0). ring-data runs its full default pipeline (filters, decontamination
against the shipped indexes, exact and near dedup, rejects with evidence).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEMS = ("ring-data", "datasketch", "rensa", "datatrove")


# ---- the systems (each runs in a child process) ----------------------------------------------------
def _read(path: Path) -> list[dict]:
    import orjson

    with path.open("rb") as fh:
        return [orjson.loads(line) for line in fh]


def _write_kept(rows: list[dict], removed: set[int], out: Path) -> None:
    import orjson

    with out.open("wb") as fh:
        for i, r in enumerate(rows):
            if i not in removed:
                fh.write(orjson.dumps(r) + b"\n")


def _shingles(text: str, n: int = 5) -> list[str]:
    words = text.lower().split()
    if len(words) < n:
        return [" ".join(words)]
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def _clusters_from_pairs(n: int, pairs, ids: list[str]) -> tuple[list[list[str]], set[int]]:
    from ring_data.clean.minhash import clusters

    groups = clusters(n, pairs)
    removed = {m for members in groups.values() for m in members[1:]}
    return [[ids[m] for m in members] for members in groups.values()], removed


def run_ring_data(inp: Path, work: Path):
    from cli.ring_data import main as ring_data

    # the command a user runs (it also applies the allocator settings of a data process)
    if ring_data(["clean", str(inp), "-o", str(work / "out.jsonl"), "--no-resume"]) != 0:
        raise RuntimeError("ring-data clean failed")

    def clusters() -> list[list[str]]:  # for scoring only, after the clock stops (streamed: 10M rows)
        import orjson

        groups: dict[str, list[str]] = {}
        with (work / "out.rejects.jsonl").open("rb") as fh:
            for line in fh:
                r = orjson.loads(line)
                if r.get("reason") in ("exact_duplicate", "near_duplicate"):
                    kept = r["evidence"]["kept_id"]
                    groups.setdefault(kept, [kept]).append(r["id"])
        return list(groups.values())

    return clusters


def run_datasketch(inp: Path, work: Path) -> list[list[str]]:
    from datasketch import MinHash, MinHashLSH

    rows = _read(inp)
    sh = [[s.encode("utf-8") for s in _shingles(r["prompt"])] for r in rows]
    sigs = MinHash.bulk(sh, num_perm=128)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m)
    pairs = [(i, j) for i, m in enumerate(sigs) for j in lsh.query(m) if j > i]
    clusters, removed = _clusters_from_pairs(len(rows), pairs, [r["id"] for r in rows])
    _write_kept(rows, removed, work / "out.jsonl")
    return clusters


def run_rensa(inp: Path, work: Path) -> list[list[str]]:
    from rensa import RMinHash, RMinHashLSH

    rows = _read(inp)
    sigs = RMinHash.from_token_sets([_shingles(r["prompt"]) for r in rows], 128, 42)
    lsh = RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)
    lsh.insert_many(sigs)
    pairs = [(i, j) for i, cands in enumerate(lsh.query_all(sigs)) for j in cands if j > i]
    clusters, removed = _clusters_from_pairs(len(rows), pairs, [r["id"] for r in rows])
    _write_kept(rows, removed, work / "out.jsonl")
    return clusters


def run_datatrove(inp: Path, work: Path):
    import datatrove.utils.hashes.xxhash as dt_xxhash
    import xxhash
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.word_tokenizers import WordTokenizer

    # datatrove 0.10 passes str to xxhash, which xxhash >= 4 refuses: encode first (same hash values)
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)
    dt_xxhash.xxhash32 = lambda data: xxhash.xxh32_intdigest(data.encode() if isinstance(data, str) else data)

    class SplitTokenizer(WordTokenizer):  # datatrove's English tokenizer needs spaCy; whitespace is cheaper
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    cfg = MinhashConfig()
    data = work / "data"
    data.mkdir()
    os.link(inp, data / "in.jsonl")
    reader = JsonlReader(str(data), text_key="prompt", id_key="id")
    logs = str(work / "logs")
    common = {"logging_dir": None, "skip_completed": False}
    LocalPipelineExecutor(
        [reader, MinhashDedupSignature(str(work / "sigs"), config=cfg, language=SplitTokenizer())],
        tasks=1,
        **{**common, "logging_dir": logs + "/1"},
    ).run()
    LocalPipelineExecutor(
        [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)],
        tasks=cfg.num_buckets,
        workers=2,
        **{**common, "logging_dir": logs + "/2"},
    ).run()
    LocalPipelineExecutor(
        [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg, save_cluster_id=True)],
        tasks=1,
        **{**common, "logging_dir": logs + "/3"},
    ).run()
    LocalPipelineExecutor(
        [
            JsonlReader(str(data), text_key="prompt", id_key="id"),
            MinhashDedupFilter(
                str(work / "remove"),
                load_cluster_ids=True,
                exclusion_writer=JsonlWriter(str(work / "removed"), compression=None),
            ),
            JsonlWriter(str(work / "kept"), compression=None),
        ],
        tasks=1,
        **{**common, "logging_dir": logs + "/4"},
    ).run()
    return lambda: _datatrove_clusters(work)


def _datatrove_clusters(work: Path) -> list[list[str]]:
    groups: dict[int, list[str]] = {}
    for folder in ("kept", "removed"):
        for f in (work / folder).glob("*.jsonl"):
            for line in f.read_text().splitlines():
                doc = json.loads(line)
                cid = doc.get("metadata", {}).get("minhash_cluster_id", -1)
                if cid is not None and cid != -1:
                    groups.setdefault(cid, []).append(doc["id"])
    return [g for g in groups.values() if len(g) > 1]


RUNNERS = {
    "ring-data": run_ring_data,
    "datasketch": run_datasketch,
    "rensa": run_rensa,
    "datatrove": run_datatrove,
}


# ---- the harness ------------------------------------------------------------------------------------
def measure(system: str, inp: Path, work: Path) -> dict:
    """Run one system in a child process; wall time (from starting the process to the system's kept
    rows being written: reading its clusters back for scoring is not timed), peak RSS of its whole
    process tree, CPU time of the process and its children (the whole run, scoring included: a
    small part) and the 1-minute load average seen while it ran (other jobs on the machine)."""
    import psutil

    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RING_PROGRESS": "", "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, __file__, "--_child", system, "--_input", str(inp), "--_work", str(work)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak, wall, loads = 0, None, []
    err: list[str] = []

    def wait_done() -> None:  # the child prints DONE when its kept rows are written
        nonlocal wall
        for line in proc.stdout:
            if line.strip() == "DONE" and wall is None:
                wall = time.perf_counter() - t0

    readers = [threading.Thread(target=wait_done, daemon=True)]
    readers.append(threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True))
    for r in readers:
        r.start()
    status = usage = None
    while status is None:
        pid, code, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, usage = os.waitstatus_to_exitcode(code), ru
            proc.returncode = status
            break
        try:
            if wall is None:
                rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
                peak = max(peak, rss)
                if not loads or time.perf_counter() - loads[-1][0] > 5:
                    loads.append((time.perf_counter(), os.getloadavg()[0]))
        except psutil.Error:
            pass
        time.sleep(0.05)
    for r in readers:
        r.join()
    if status != 0 or wall is None:
        raise RuntimeError(f"{system} failed:\n{''.join(err)[-3000:]}")
    return {
        "system": system,
        "seconds": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "load": statistics.median(x for _, x in loads) if loads else os.getloadavg()[0],
        "peak_mib": peak / 2**20,
        "clusters": work / "clusters.json",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--corpus", choices=["math", "mixed"], default="math")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="rounds of every system (median reported)")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument(
        "--out", type=Path, help="the table (default: benchmarks/results/clean[_ROWS][_mixed].md)"
    )
    ap.add_argument(
        "--corpus-dir",
        type=Path,
        help="keep the generated corpus here and reuse it on the next run (10M rows take ~20 min to write)",
    )
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--_input", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        clusters = RUNNERS[args._child](args._input, args._work)
        print("DONE", flush=True)
        clusters = clusters() if callable(clusters) else clusters
        (args._work / "clusters.json").write_text(json.dumps(clusters))
        return 0

    from ring_data.clean.corpus import write_corpus

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    out = args.out or ROOT / "benchmarks" / "results" / (
        "clean"
        + (f"_{args.rows}" if args.rows != 200_000 else "")
        + ("_mixed" if args.corpus == "mixed" else "")
        + ".md"
    )
    with tempfile.TemporaryDirectory(prefix="bench_clean_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        corpus = (args.corpus_dir or tmp) / f"corpus_{args.corpus}_{args.rows}_seed{args.seed}.jsonl"
        if not corpus.exists():
            corpus.parent.mkdir(parents=True, exist_ok=True)
            part = corpus.with_name(corpus.name + ".part")
            write_corpus(part, args.rows, seed=args.seed, mixed=args.corpus == "mixed")
            part.rename(corpus)
        truth = Truth.read(corpus)
        print(
            f"corpus: {args.rows} rows ({corpus.stat().st_size / args.rows:.0f} bytes a row), "
            f"{truth.pairs} true duplicate pairs ({time.perf_counter() - t:.1f}s)",
            file=sys.stderr,
        )
        # rounds: every system once per round (each round starting with another one), so drift in the
        # machine's load hits all of them alike
        walls: dict[str, list[float]] = {s: [] for s in systems}
        results = {}
        os.sync()  # the corpus's dirty pages are written back now, not during the first system's run
        for rnd in range(args.repeats):
            for system in systems[rnd % len(systems) :] + systems[: rnd % len(systems)]:  # rotate the order
                r = measure(system, corpus, tmp / f"{system}-{rnd}")  # fresh dir a round
                walls[system].append(r["seconds"])
                print(
                    f"round {rnd + 1}: {system} {r['seconds']:.1f}s (CPU {r['cpu_s']:.1f}s), "
                    f"{r['peak_mib']:.0f} MiB, load {r['load']:.1f}",
                    file=sys.stderr,
                )
                stats = tmp / f"{system}-{rnd}" / "out.jsonl.stats.json"
                r["stage_seconds"] = (
                    json.loads(stats.read_text())["stage_seconds"] if stats.exists() else None
                )
                if r["stage_seconds"]:
                    print(f"  stage seconds: {r['stage_seconds']}", file=sys.stderr)
                shutil.rmtree(tmp / f"{system}-{rnd}" / "out.jsonl.work", ignore_errors=True)
                if system in results:  # scored once; memory: the worst round
                    results[system]["peak_mib"] = max(results[system]["peak_mib"], r["peak_mib"])
                    results[system]["loads"].append(r["load"])
                    results[system]["cpus"].append(r["cpu_s"])
                    results[system]["stages"].append(r["stage_seconds"])
                    continue
                r.update(
                    truth.score(json.loads(r["clusters"].read_text())),
                    loads=[r["load"]],
                    cpus=[r["cpu_s"]],
                    stages=[r["stage_seconds"]],
                )
                results[system] = r
        for system, r in results.items():
            r["walls"] = walls[system]
            r["seconds"] = statistics.median(walls[system])
            r["rows_per_s"] = args.rows / r["seconds"]
            print(
                f"{system}: median {r['seconds']:.1f}s, {r['peak_mib']:.0f} MiB, P={r['precision']:.3f} "
                f"R={r['recall']:.3f}",
                file=sys.stderr,
            )
        results = list(results.values())
    table = render(results, args.rows, args.repeats, systems, args.corpus)
    print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    return 0


class Truth:
    """The corpus's clusters as arrays (row number in generation order -> cluster, edited copy or
    not), and pairwise precision/recall of predicted clusters computed by counting pairs per cell
    of (predicted cluster, true cluster): the same figures as comparing pair sets
    (``corpus.pairwise_scores``), in memory that 10M rows allow."""

    def __init__(self, prefix: str, cluster, edit):
        self.prefix, self.cluster, self.edit = prefix, cluster, edit
        self.pairs = int(_pairs(np.unique(cluster, return_counts=True)[1]))

    @classmethod
    def read(cls, corpus: Path) -> Truth:
        import orjson

        clusters, edits, prefix = [], [], None
        with corpus.open("rb") as fh:
            for line in fh:
                r = orjson.loads(line)
                prefix = prefix or r["id"].rstrip("0123456789")
                k = int(r["id"][len(prefix) :])
                if k >= len(clusters):
                    clusters.extend([0] * (k + 1 - len(clusters)))
                    edits.extend([False] * (k + 1 - len(edits)))
                clusters[k], edits[k] = r["meta"]["cluster"], r["meta"]["kind"] == "edit"
        return cls(prefix, np.array(clusters, dtype=np.int64), np.array(edits, dtype=bool))

    def score(self, predicted: list[list[str]]) -> dict[str, float]:
        n = len(self.cluster)
        label = np.arange(n, dtype=np.int64) + 1  # singletons: a label of their own (> 0)
        for g, ids in enumerate(predicted):
            label[[int(i[len(self.prefix) :]) for i in ids]] = -g - 1
        in_group = label < 0
        pred = int(_pairs(np.unique(label[in_group], return_counts=True)[1]))
        # cells (predicted group, true cluster) and their rows that are not edited copies
        cell = np.stack([label[in_group], self.cluster[in_group]], axis=1)
        _, inv, size = np.unique(cell, axis=0, return_inverse=True, return_counts=True)
        plain = np.bincount(inv.ravel(), weights=~self.edit[in_group], minlength=len(size))
        tp = int(_pairs(size))
        edit_tp = tp - int(_pairs(plain))
        _, tinv, tsize = np.unique(self.cluster, return_inverse=True, return_counts=True)
        tplain = np.bincount(tinv.ravel(), weights=~self.edit, minlength=len(tsize))
        edit_truth = self.pairs - int(_pairs(tplain))
        return {
            "precision": tp / pred if pred else 1.0,
            "recall": tp / self.pairs if self.pairs else 1.0,
            "edit_recall": edit_tp / edit_truth if edit_truth else 1.0,
        }


def _pairs(sizes) -> float:
    sizes = np.asarray(sizes, dtype=np.float64)
    return float((sizes * (sizes - 1) / 2).sum())


def render(
    results: list[dict], n_rows: int, repeats: int = 1, systems: list[str] | None = None, corpus: str = "math"
) -> str:
    base = next((r for r in results if r["system"] == "datasketch"), None)
    what = (
        "short math problems (formatting variants, <=10% word edits, same-template problems with other numbers)"
        if corpus == "math"
        else "mixed rows, a third each of math, science (quantities with units) and code (tasks with stdin/stdout "
        "tests in the reference); formatting variants, <=10% word edits, same-template problems with other numbers"
    )
    lines = [
        f"Seeded corpus: {n_rows:,} {what}. One process per system, 2 cores."
        + (
            f" {repeats} rounds (every system once per round, the order rotated): rows/s from the median wall time; "
            "'vs datasketch' is the median of the per-round ratios, with their range."
            if repeats > 1
            else ""
        )
        + " CPU: user+system seconds of the process tree (median round); load: the machine's 1-minute load "
        "average during the runs (other jobs share the 2 cores).",
        "",
        "| system | rows/s | vs datasketch | CPU s | peak RSS (MiB) | load | precision | recall | "
        "recall on edited copies |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = "-"
        if base:
            per_round = sorted(b / w for w, b in zip(r["walls"], base["walls"]))
            ratio = f"{statistics.median(per_round):.1f}x"
            if len(per_round) > 1:
                ratio += f" ({per_round[0]:.1f}-{per_round[-1]:.1f})"
        loads = r.get("loads", [])
        load = f"{min(loads):.1f}-{max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}" if loads else "-"
        cpu = f"{statistics.median(r['cpus']):,.1f}" if r.get("cpus") else "-"
        lines.append(
            f"| {r['system']} | {r['rows_per_s']:,.0f} | {ratio} | {cpu} | {r['peak_mib']:,.0f} | {load} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {r['edit_recall']:.3f} |"
        )
    for r in results:
        rounds = [st for st in r.get("stages", []) if st]
        if len(rounds) == len(r["walls"]):  # the round with the median wall time
            st = rounds[sorted(range(len(rounds)), key=lambda k: r["walls"][k])[len(rounds) // 2]]
            steps = ", ".join(f"{k} {v:.1f}" for k, v in st.items())
            lines += ["", f"{r['system']} seconds per stage (median round): {steps}"]
    lines += [
        "",
        "Command: `.venv/bin/python benchmarks/clean.py"
        + (f" --rows {n_rows}" if n_rows != 200_000 else "")
        + (" --corpus mixed" if corpus == "mixed" else "")
        + (f" --repeats {repeats}" if repeats > 1 else "")
        + (f" --systems {','.join(systems)}" if systems and list(systems) != list(SYSTEMS) else "")
        + "`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
