"""The bounded-memory path of ``ring-data clean`` (column files, near dedup in parts spilled to disk,
decisions as columns) gives the same bytes as the path that holds everything in memory."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from ring_data.clean import minhash as mh
from ring_data.clean.config import CleanConfig, DomainRules
from ring_data.clean.corpus import make_corpus, write_corpus
from ring_data.clean.decisions import Decision, Decisions, Duplicate, DuplicateTable
from ring_data.clean.ingest import ingest_segments, load_ingested, save_ingested
from ring_data.clean.pipeline import clean
from ring_data.clean.stages import decontam as decontam_stage
from ring_data.clean.stages.exact import exact_duplicates
from ring_data.clean.stages.near import near_duplicates
from ring_data.clean.write import point_to_kept_rows
from ring_data.io import write_rows

TINY_SHARDS = {"min_shard_mb": 0.05}  # 50 kB ingest shards: a small file is read by several processes


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    rows = make_corpus(4000, seed=31) + make_corpus(1500, seed=32, mixed=True, id_prefix="m")
    random.Random(3).shuffle(rows)
    write_rows(tmp / "in.jsonl", rows)
    return tmp


def _outputs(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "out.jsonl").read_bytes(), (folder / "out.rejects.jsonl").read_bytes()


def test_near_dedup_in_spilled_parts_gives_the_same_bytes(corpus):
    whole = clean(corpus / "in.jsonl", corpus / "a" / "out.jsonl", config=CleanConfig(ingest_workers=1))
    parts = clean(
        corpus / "in.jsonl",
        corpus / "b" / "out.jsonl",
        config=CleanConfig(ingest_workers=3, shard_rows=300, **TINY_SHARDS),
    )
    assert whole.stats["stages"]["near"].get("parts") is None
    assert parts.stats["stages"]["near"]["parts"] >= 4  # the spilled path really ran
    assert _outputs(corpus / "a") == _outputs(corpus / "b")
    for key in ("confirmed_pairs", "candidate_pairs", "kept_apart_in_linked_groups"):
        assert whole.stats["stages"]["near"][key] == parts.stats["stages"]["near"][key]
    assert set(whole.stats["rejected_by_reason"]) == {"exact_duplicate", "near_duplicate"}
    assert not list((corpus / "b" / "out.jsonl.work").glob("near-*"))  # spill files removed
    # resumed: ingest columns and the .npz decisions read back give the same bytes again
    again = clean(corpus / "in.jsonl", corpus / "b" / "out.jsonl", config=CleanConfig(shard_rows=300))
    assert again.stats["resumed_stages"] == ["ingest", "decontam", "exact", "near"]
    assert _outputs(corpus / "a") == _outputs(corpus / "b")


def test_stages_decide_the_same_on_arrays_in_memory_and_on_column_files(corpus, tmp_path):
    """What the Ray engine hands the stage functions (arrays in memory) and what the local engine
    hands them (column files and memory maps) give the same decisions and evidence."""
    config = CleanConfig()
    rules = DomainRules.resolve(config)
    mem = ingest_segments([corpus / "in.jsonl"], tmp_path / "rows.jsonl", config, rules)
    save_ingested(mem, tmp_path)
    disk = load_ingested(tmp_path)
    assert disk.columns == tmp_path / "columns" and mem.columns is None
    assert list(disk.ids) == mem.ids and list(disk.domains) == mem.domains
    assert np.array_equal(np.asarray(disk.enc.flat), mem.enc.flat)
    alive = np.ones(mem.n, bool)
    found = {}
    for name, ing in (("mem", mem), ("disk", disk)):
        ex = exact_duplicates(ing, alive)
        rest = alive.copy()
        rest[ex.idx] = False
        near, _ = near_duplicates(ing, rest, config.near_params, shard_rows=None if name == "mem" else 250)
        found[name] = {
            i: (d.reason, d.evidence.as_dict(), d.kept_idx) for t in (ex, near) for i, d in t.items()
        }
    assert found["mem"] == found["disk"] and len(found["mem"]) > 1000


def test_decisions_as_columns_point_to_kept_rows_like_the_dict(tmp_path):
    ids = [f"r{i}" for i in range(10)]
    # row 3 is an exact duplicate of 5; 5 is later removed as a near duplicate of 1 (a chain)
    exact = DuplicateTable(
        "exact_duplicate",
        np.array([3, 7]),
        np.array([5, 2]),
        np.ones(2),
        "normalized_text",
        reference_differs=np.array([False, True]),
    )
    near = DuplicateTable(
        "near_duplicate",
        np.array([5, 8]),
        np.array([1, 1]),
        np.array([0.75, 0.6]),
        cluster_size=np.array([3, 3]),
    )
    filtered = {9: Decision("filter_length", {"chars": 3})}
    as_dict = dict(filtered)
    for table in (exact, near):
        table.ids = ids
        as_dict.update({i: table[i] for i in table})
    point_to_kept_rows(as_dict, ids)
    columns = Decisions(filtered, ids)
    columns.update(exact)
    columns.update(near)
    point_to_kept_rows(columns, ids)
    assert sorted(columns) == sorted(as_dict) == [3, 5, 7, 8, 9]
    for i, d in as_dict.items():
        got = columns[i]
        assert (got.reason, got.kept_idx) == (d.reason, d.kept_idx)
        assert (got.evidence_dict() if isinstance(got.evidence, Duplicate) else got.evidence) == (
            d.evidence_dict() if isinstance(d.evidence, Duplicate) else d.evidence
        )
    assert columns[3].evidence.as_dict() == {
        "kept_id": "r1",
        "similarity": 0.75,
        "match": "normalized_text",
        "duplicate_of": "r5",
    }
    # saved and loaded as arrays
    path = tmp_path / "decisions.npz"
    near.save(path)
    back = DuplicateTable.load(path)
    back.ids = ids
    assert {i: back[i].evidence.as_dict() for i in back} == {i: near[i].evidence.as_dict() for i in near}


def test_decontamination_read_back_in_chunks_finds_the_same_hits(tmp_path, monkeypatch):
    """A resumed ingest made without decontamination: the stage reads the rows' tokens and the
    spool itself, a chunk of rows at a time, and finds what ingest would have found."""
    import mmath

    items = json.loads((Path(mmath.__file__).parent / "mmath" / "en.json").read_text())
    rows = make_corpus(900, seed=6, dup_fraction=0.0)
    for k, at in enumerate((5, 400, 890)):
        rows.insert(at, {"id": f"bench{k}", "domain": "math", "prompt": items[k]["question"]})
    write_rows(tmp_path / "in.jsonl", rows)
    fresh = clean(tmp_path / "in.jsonl", tmp_path / "a" / "out.jsonl")
    clean(tmp_path / "in.jsonl", tmp_path / "b" / "out.jsonl", config=CleanConfig(decontam=False))
    monkeypatch.setattr(decontam_stage, "CHUNK_ROWS", 128)
    resumed = clean(tmp_path / "in.jsonl", tmp_path / "b" / "out.jsonl")
    assert resumed.stats["resumed_stages"] == ["ingest"]
    assert resumed.stats["rejected_by_reason"]["contamination"] == 3
    assert _outputs(tmp_path / "a") == _outputs(tmp_path / "b")
    assert fresh.stats["rejected_by_reason"] == resumed.stats["rejected_by_reason"]


def test_pair_jaccard_is_the_exact_jaccard_of_the_feature_sets():
    rng = np.random.default_rng(5)
    lengths = rng.integers(0, 30, 400)
    lengths[::37] = 0  # empty documents
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = rng.integers(0, 12, offsets[-1]).astype(np.uint64) << np.uint64(40)  # repeats inside docs
    feats = mh.features(flat, offsets, block_tokens=50)
    pairs = np.sort(rng.integers(0, 400, (3000, 2)), axis=1)
    sets = [
        set(feats.uni[feats.uni_offsets[d] : feats.uni_offsets[d + 1]].tolist())
        | set(feats.bi[feats.bi_offsets[d] : feats.bi_offsets[d + 1]].tolist())
        for d in range(400)
    ]
    expected = [mh.jaccard(sets[a], sets[b]) for a, b in pairs.tolist()]
    assert feats.pair_jaccard(pairs).tolist() == expected
    whole = mh.features(flat, offsets, block_tokens=1 << 30)  # blocks change nothing
    assert np.array_equal(whole.bi, feats.bi) and np.array_equal(whole.uni, feats.uni)


def test_big_bucket_star_is_centred_on_its_lowest_row_whatever_else_is_there():
    """A band bucket over ``max_bucket`` gives a star around its lowest row in every band (argsort's
    order among equal keys varied by band), so the rows of one part give the pairs the whole gives."""
    params = mh.NearDupParams(max_bucket=4)
    rng = np.random.default_rng(0)
    same = np.arange(1, 9, dtype=np.uint64) << np.uint64(33)
    docs = [
        same if rng.random() < 0.4 else rng.integers(1, 2**31, 8).astype(np.uint64) << np.uint64(33)
        for _ in range(600)
    ]
    copies = [i for i, d in enumerate(docs) if d is same]
    sig = mh.signatures(np.concatenate(docs), np.arange(0, 8 * 600 + 1, 8), params.num_perm)
    pairs = mh.candidate_pairs(sig, params).tolist()
    assert pairs == [[copies[0], k] for k in copies[1:]]
    part = copies[3:]  # the same documents without the first three copies
    sub = mh.candidate_pairs(sig[:, part], params).tolist()
    assert sub == [[0, k] for k in range(1, len(part))]


def test_write_corpus_streams_make_corpus_and_mixed_rows_share_references_in_clusters(tmp_path):
    write_corpus(tmp_path / "a.jsonl", 700, seed=9, mixed=True)
    write_rows(tmp_path / "b.jsonl", make_corpus(700, seed=9, mixed=True))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    rows = make_corpus(3000, seed=2, mixed=True)
    assert {r["domain"] for r in rows} == {"math", "science", "code"}
    by_cluster: dict[int, set[str]] = {}
    for r in rows:
        by_cluster.setdefault(r["meta"]["cluster"], set()).add(json.dumps(r["reference"], sort_keys=True))
    assert all(len(refs) == 1 for refs in by_cluster.values())  # copies keep their reference
    code = [r for r in rows if r["domain"] == "code"]
    assert all(r["reference"]["tests"] and "input" in r["reference"]["tests"][0] for r in code)
    science = [r for r in rows if r["domain"] == "science"]
    assert all(r["reference"]["unit"] in r["prompt"] for r in science if r["meta"]["kind"] == "original")
