"""ring-data clean vs datatrove / datasketch / rensa MinHash dedup on one seeded corpus.

    .venv/bin/python benchmarks/clean.py                 # 200k rows, all systems (~3 min on 2 cores)
    .venv/bin/python benchmarks/clean.py --repeats 3     # 3 rounds, medians (the README's table, ~6 min)
    .venv/bin/python benchmarks/clean.py --rows 1000000 --systems ring-data   # the 1M-row target

The corpus (``ring_data.clean.corpus``) is short math problems with known clusters: formatting
variants, <=10% word edits, and same-template problems with other numbers (distinct problems).
Every system runs end to end in its own process (read JSONL -> dedup -> write kept rows) on the
same file; wall time, peak RSS of the process tree (psutil, sampled every 50 ms) and pairwise
precision/recall against the true clusters are reported. Peers run with their usual settings:
word 5-gram shingles, 128 permutations, threshold 0.8 (datatrove: its defaults, 14x8 bands,
numbers normalised to 0). ring-data runs its full default pipeline (filters, decontamination
against the shipped indexes, exact and near dedup, rejects with evidence).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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

    def clusters() -> list[list[str]]:  # for scoring only, after the clock stops
        from ring_data.clean.corpus import clusters_from_rejects
        from ring_data.io import read_rows

        return clusters_from_rejects(list(read_rows(work / "out.rejects.jsonl")))

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
    rows being written: reading its clusters back for scoring is not timed) and peak RSS of its whole
    process tree."""
    import psutil

    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RING_PROGRESS": "", "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, __file__, "--_child", system, "--_input", str(inp), "--_work", str(work)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak, wall = 0, None

    def wait_done() -> None:  # the child prints DONE when its kept rows are written
        nonlocal wall
        for line in proc.stdout:
            if line.strip() == "DONE" and wall is None:
                wall = time.perf_counter() - t0

    reader = threading.Thread(target=wait_done, daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            if wall is None:
                rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
                peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    reader.join()
    err = proc.stderr.read()
    if proc.returncode != 0 or wall is None:
        raise RuntimeError(f"{system} failed:\n{err[-3000:]}")
    return {"system": system, "seconds": wall, "peak_mib": peak / 2**20, "clusters": work / "clusters.json"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="rounds of every system (median reported)")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "clean.md")
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

    from ring_data.clean.corpus import make_corpus, pairwise_scores, true_pairs
    from ring_data.io import write_rows

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="bench_clean_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        rows = make_corpus(args.rows, seed=args.seed)
        write_rows(tmp / "corpus.jsonl", rows)
        truth = true_pairs(rows)
        kinds = {r["id"]: r["meta"]["kind"] for r in rows}
        print(
            f"corpus: {len(rows)} rows, {len(truth)} true duplicate pairs ({time.perf_counter() - t:.1f}s)",
            file=sys.stderr,
        )
        # rounds: every system once per round (each round starting with another one), so drift in the
        # machine's load hits all of them alike
        walls: dict[str, list[float]] = {s: [] for s in systems}
        results = {}
        os.sync()  # the corpus's dirty pages are written back now, not during the first system's run
        for rnd in range(args.repeats):
            for system in systems[rnd % len(systems) :] + systems[: rnd % len(systems)]:  # rotate the order
                r = measure(system, tmp / "corpus.jsonl", tmp / f"{system}-{rnd}")  # fresh dir a round
                walls[system].append(r["seconds"])
                print(
                    f"round {rnd + 1}: {system} {r['seconds']:.1f}s, {r['peak_mib']:.0f} MiB", file=sys.stderr
                )
                if system in results:  # scored once; memory: the worst round
                    results[system]["peak_mib"] = max(results[system]["peak_mib"], r["peak_mib"])
                    continue
                clusters = json.loads(r["clusters"].read_text())
                scores = pairwise_scores(clusters, truth)
                edit_truth = {p for p in truth if "edit" in (kinds[p[0]], kinds[p[1]])}
                r.update(scores, edit_recall=pairwise_scores(clusters, edit_truth)["recall"])
                results[system] = r
        for system, r in results.items():
            r["walls"] = walls[system]
            r["seconds"] = statistics.median(walls[system])
            r["rows_per_s"] = len(rows) / r["seconds"]
            print(
                f"{system}: median {r['seconds']:.1f}s, {r['peak_mib']:.0f} MiB, P={r['precision']:.3f} "
                f"R={r['recall']:.3f}",
                file=sys.stderr,
            )
        results = list(results.values())
    table = render(results, args.rows, args.repeats, systems)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")
    return 0


def render(results: list[dict], n_rows: int, repeats: int = 1, systems: list[str] | None = None) -> str:
    base = next((r for r in results if r["system"] == "datasketch"), None)
    lines = [
        f"Seeded corpus: {n_rows:,} short math problems (formatting variants, <=10% word edits, same-template "
        "problems with other numbers). One process per system, 2 cores."
        + (
            f" {repeats} rounds (every system once per round, the order rotated): rows/s from the median wall time; "
            "'vs datasketch' is the median of the per-round ratios, with their range."
            if repeats > 1
            else ""
        ),
        "",
        "| system | rows/s | vs datasketch | peak RSS (MiB) | precision | recall | recall on edited copies |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = "-"
        if base:
            per_round = sorted(b / w for w, b in zip(r["walls"], base["walls"]))
            ratio = f"{statistics.median(per_round):.1f}x"
            if len(per_round) > 1:
                ratio += f" ({per_round[0]:.1f}-{per_round[-1]:.1f})"
        lines.append(
            f"| {r['system']} | {r['rows_per_s']:,.0f} | {ratio} | {r['peak_mib']:,.0f} | {r['precision']:.3f} | "
            f"{r['recall']:.3f} | {r['edit_recall']:.3f} |"
        )
    lines += [
        "",
        "Command: `.venv/bin/python benchmarks/clean.py"
        + (f" --rows {n_rows}" if n_rows != 200_000 else "")
        + (f" --repeats {repeats}" if repeats > 1 else "")
        + (f" --systems {','.join(systems)}" if systems and list(systems) != list(SYSTEMS) else "")
        + "`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
