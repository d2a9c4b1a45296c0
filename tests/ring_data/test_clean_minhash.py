"""MinHash/LSH pieces: estimates track exact Jaccard, banding finds pairs at the threshold, clusters."""

import numpy as np

from ring_data.clean import minhash as mh
from ring_data.clean.minhash import _pairs_within_runs


def _docs(rng, n_docs, size=60, vocab=10**9):
    return [set(rng.integers(0, vocab, size=size).tolist()) for _ in range(n_docs)]


def _to_arrays(sets):
    vals = np.concatenate([np.array(sorted(s), dtype=np.uint64) << np.uint64(20) for s in sets])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    return vals, offsets


def test_signature_agreement_estimates_jaccard():
    rng = np.random.default_rng(0)
    base = _docs(rng, 200)
    pairs = []
    for s in base:  # partner sharing a random fraction of features
        keep = int(len(s) * rng.uniform(0.3, 1.0))
        pairs.append(set(list(s)[:keep]) | set(rng.integers(0, 10**9, size=len(s) - keep).tolist()))
    vals, offsets = _to_arrays(base + pairs)
    sig = mh.signatures(vals, offsets, 256)
    est = (sig[:, :200] == sig[:, 200:]).mean(axis=0)
    true = np.array([mh.jaccard(a, b) for a, b in zip(base, pairs)])
    assert np.abs(est - true).mean() < 0.03
    assert np.corrcoef(est, true)[0, 1] > 0.95


def test_banding_finds_pairs_at_threshold_and_few_unrelated():
    params = mh.NearDupParams()
    assert params.collision_probability(0.6) > 0.98 and params.collision_probability(0.1) < 0.01
    rng = np.random.default_rng(1)
    base = _docs(rng, 300)
    # partners at Jaccard exactly 0.6: share 45 of 60 features, 15 new -> 45 / 75
    partners = [set(list(s)[:45]) | set(rng.integers(0, 10**9, size=15).tolist()) for s in base]
    vals, offsets = _to_arrays(base + partners)
    sig = mh.signatures(vals, offsets, params.num_perm)
    cand = {tuple(p) for p in mh.candidate_pairs(sig, params).tolist()}
    found = sum((i, i + 300) in cand for i in range(300))
    assert found / 300 >= 0.95
    assert len(cand - {(i, i + 300) for i in range(300)}) < 20  # unrelated random docs rarely collide


def test_salt_keeps_apart_documents_with_different_numbers():
    rng = np.random.default_rng(2)
    (s,) = _docs(rng, 1)
    vals, offsets = _to_arrays([s, s, s])
    sig = mh.signatures(vals, offsets, 128)
    salt = np.array([1, 1, 2], dtype=np.uint64)
    assert mh.candidate_pairs(sig, mh.NearDupParams(), salt=salt).tolist() == [[0, 1]]


def test_empty_documents_never_pair():
    vals, offsets = _to_arrays([{1, 2, 3}, set(), set(), {1, 2, 3}])
    sig = mh.signatures(vals, offsets, 128)
    assert mh.candidate_pairs(sig, mh.NearDupParams(), active=np.diff(offsets) > 0).tolist() == [[0, 3]]


def test_pairs_within_runs_and_union_find():
    members = np.array([10, 11, 12, 20, 21])
    got = _pairs_within_runs(members, np.array([0, 3]), np.array([3, 2])).tolist()
    assert got == [[10, 11], [10, 12], [11, 12], [20, 21]]
    assert mh.clusters(6, [(0, 1), (1, 2), (4, 5)]) == {0: [0, 1, 2], 4: [4, 5]}


def test_split_by_salt_pairs_small_groups_and_sends_big_ones_to_lsh():
    salt = np.array([5, 5, 7, 9, 9, 9, 1, 5], dtype=np.uint64)
    pairs, lsh_docs = mh.split_by_salt(salt, 3)
    assert pairs.tolist() == [[0, 1], [0, 7], [1, 7], [3, 4], [3, 5], [4, 5]]  # singletons 2, 6: nothing
    assert lsh_docs.tolist() == []
    pairs, lsh_docs = mh.split_by_salt(salt, 2)
    assert pairs.tolist() == [] and lsh_docs.tolist() == [0, 1, 3, 4, 5, 7]
    pairs, lsh_docs = mh.split_by_salt(salt, 0)  # 0: everything through MinHash, as without a salt split
    assert pairs.tolist() == [] and lsh_docs.tolist() == list(range(8))
