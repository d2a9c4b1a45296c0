"""A domain registered from user code goes through clean, verify and annotate with no edit in the
package: what curation does with its rows follows the ``DomainInfo`` it registered (answer format,
verbatim text, the filters it opts into, its prompt template, its row generator), docs/architecture.md §7.
"""

import json
import re
from dataclasses import replace

import pytest

pytest.importorskip("polars")

from ring_data.annotate import AnnotateConfig, annotate  # noqa: E402
from ring_data.annotate.prompts import render_user_text  # noqa: E402
from ring_data.clean.config import CleanConfig  # noqa: E402
from ring_data.clean.pipeline import clean  # noqa: E402
from ring_data.io import read_rows, write_rows  # noqa: E402
from ring_data.verify import verify_file  # noqa: E402
from verifiers import (  # noqa: E402
    DomainInfo,
    ReferenceCheck,
    Status,
    VerifyResult,
    domain_info,
    game_domains,
    register,
    register_reference_check,
)
from verifiers.games.generate import generate_rows  # noqa: E402

DOMAIN = "tile_parity"  # a grid of tiles: is the number of '#' tiles even or odd?
PROSE = "tile_parity_prose"  # the same checker registered with the default metadata: the control
QUESTION = "Is the number of # tiles even or odd?"


def generate(rng, *, size=3):
    grid = ["".join(rng.choice("#.") for _ in range(size)) for _ in range(size)]
    walls = sum(line.count("#") for line in grid)
    return {"prompt": QUESTION + "\n" + "\n".join(grid), "reference": {"answer": ("even", "odd")[walls % 2]}}


def check(response, reference, **_options):
    m = re.search(r"<answer>\s*(\w+)\s*</answer>", response)
    if m is None:
        return VerifyResult.make(Status.NO_ANSWER, reason="no <answer> tag")
    ok = m.group(1).lower() == reference["answer"]
    return VerifyResult.make(Status.CORRECT if ok else Status.WRONG, extracted=m.group(1))


def check_reference(reference, **_options):
    if isinstance(reference, dict) and reference.get("answer") in ("even", "odd"):
        return ReferenceCheck(True)
    return ReferenceCheck(False, "invalid_reference", {"error": "answer must be 'even' or 'odd'"})


INFO = DomainInfo(answer_format="tagged", verbatim=True, filters=("latex",), generator=generate)


@pytest.fixture(autouse=True, scope="module")
def user_domains():
    """Registered the way a user's module does it; gone again after this module's tests."""
    import verifiers.registry as registry

    with pytest.MonkeyPatch.context() as mp:
        for table in ("_REGISTRY", "_INFO", "_REF_CHECKERS"):
            mp.setattr(registry, table, dict(getattr(registry, table)))
        register(DOMAIN, check, info=INFO)
        register_reference_check(DOMAIN, check_reference)
        register(PROSE, check)
        yield


def test_the_registry_answers_for_the_user_domain():
    assert domain_info(DOMAIN) == INFO and domain_info(PROSE) == DomainInfo()
    assert DOMAIN in game_domains() and PROSE not in game_domains()
    row = {"domain": DOMAIN, "prompt": "P"}
    assert (
        render_user_text(row)
        == "P\nPlease reason step by step, and put your final answer within <answer> </answer> tags."
    )
    assert render_user_text({**row, "domain": PROSE}) == "P"
    assert INFO.as_response("odd") == "<answer>odd</answer>"


def _pool(tmp_path, domain):
    rows = [
        {**r, "domain": domain, "id": f"{domain}-{k}"}
        for k, r in enumerate(generate_rows(DOMAIN, 60, seed=3))
    ]
    rows.append(
        {
            "id": f"{domain}-brace",
            "domain": domain,
            "prompt": QUESTION + " {\n#.#\n...",
            "reference": {"answer": "even"},
        }
    )
    write_rows(tmp_path / f"{domain}.jsonl", rows)
    return rows


def test_clean_compares_its_grids_verbatim_and_runs_the_filters_it_opted_into(tmp_path):
    rows = _pool(tmp_path, DOMAIN)
    exact_only = CleanConfig(near=False)  # 3x3 grids after one shared question are near duplicates
    res = clean(tmp_path / f"{DOMAIN}.jsonl", tmp_path / "out.jsonl", config=exact_only)
    distinct = {json.dumps([r["prompt"], r["reference"]]) for r in rows if "brace" not in r["id"]}
    assert res.rejected_by_reason == {"exact_duplicate": len(rows) - 1 - len(distinct), "filter_latex": 1}
    assert res.balanced and res.kept == len(distinct)
    for rej in read_rows(tmp_path / "out.rejects.jsonl"):  # only identical grids go
        if rej["reason"] == "exact_duplicate":
            twin = next(r for r in rows if r["id"] == rej["evidence"]["kept_id"])
            assert (twin["prompt"], twin["reference"]) == (rej["prompt"], rej["reference"])

    # resume: another domain registered meanwhile changes nothing for these rows; new metadata for
    # their own domain means reading them again (no stale tokens or verdicts)
    register("tile_parity_other", check, info=DomainInfo(verbatim=True, filters=("latex", "choice")))
    again = clean(tmp_path / f"{DOMAIN}.jsonl", tmp_path / "out.jsonl", config=exact_only)
    assert again.stats["resumed_stages"] == ["ingest", "decontam", "exact"]
    register(DOMAIN, check, info=replace(INFO, verbatim=False, filters=()), override=True)
    changed = clean(
        tmp_path / f"{DOMAIN}.jsonl",
        tmp_path / "changed.jsonl",
        work_dir=tmp_path / "out.jsonl.work",
        config=exact_only,
    )
    assert changed.stats["resumed_stages"] == [] and changed.kept == 2  # compared as prose, no latex filter
    register(DOMAIN, check, info=INFO, override=True)

    # the control: compared as prose (punctuation and '#' dropped) every grid with the same answer is
    # one problem, and the latex filter does not apply
    _pool(tmp_path, PROSE)
    prose = clean(tmp_path / f"{PROSE}.jsonl", tmp_path / "prose.jsonl", config=exact_only)
    assert prose.kept == 2 and set(prose.rejected_by_reason) == {"exact_duplicate"}

    # ingest worker processes never import the user's module: they get the metadata resolved
    many = clean(
        tmp_path / f"{DOMAIN}.jsonl",
        tmp_path / "many.jsonl",
        config=CleanConfig(near=False, ingest_workers=2, min_shard_mb=0.001),
    )
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()
    assert (tmp_path / "many.rejects.jsonl").read_bytes() == (tmp_path / "out.rejects.jsonl").read_bytes()
    assert many.rejected_by_reason == res.rejected_by_reason


def test_verify_and_annotate_use_its_checkers_and_answer_format(tmp_path):
    kept = list(generate_rows(DOMAIN, 6, seed=5))
    extra = [
        {"id": "maybe", "domain": DOMAIN, "prompt": QUESTION + "\n##", "reference": {"answer": "maybe"}},
        # candidates are bare answers: verify wraps them in the domain's <answer> tags before checking
        {
            "id": "voted",
            "domain": DOMAIN,
            "prompt": QUESTION + "\n#",
            "reference": {"answer": "odd", "candidates": ["odd", "odd", "even"]},
        },
        {
            "id": "split",
            "domain": DOMAIN,
            "prompt": QUESTION + "\n.",
            "reference": {"answer": "even", "candidates": ["odd", "odd"]},
        },
    ]
    write_rows(tmp_path / "in.jsonl", kept + extra)
    res = verify_file(tmp_path / "in.jsonl", tmp_path / "verified.jsonl", report_dir=tmp_path / "vr")
    assert (res.rows_in, res.kept, res.rejected) == (9, 7, 2) and res.balanced
    assert res.rejected_by_reason == {"invalid_reference": 1, "no_agreement": 1}
    assert json.loads(res.stats_path.read_text())["rejected_by_reason"] == res.rejected_by_reason
    assert (tmp_path / "vr" / "report.md").exists()

    # annotate from precomputed responses (samples:): scored by the user's checker
    verified = list(read_rows(tmp_path / "verified.jsonl"))
    samples = tmp_path / "samples.jsonl"
    with samples.open("w") as fh:
        for r in verified:
            right, wrong = r["reference"]["answer"], {"even": "odd", "odd": "even"}[r["reference"]["answer"]]
            responses = [
                f"<answer>{right}</answer>",
                f"<answer>{wrong}</answer>",
                right,
                f"<answer>{right}</answer>",
            ]
            fh.write(json.dumps({"id": r["id"], "responses": responses}) + "\n")
    out = annotate(
        tmp_path / "verified.jsonl",
        tmp_path / "annotated.jsonl",
        f"samples:{samples}",
        report_dir=tmp_path / "ar",
        config=AnnotateConfig(n=4),
    )
    assert (out.rows_in, out.kept, out.rejected) == (7, 7, 0) and out.balanced
    labelled = list(read_rows(tmp_path / "annotated.jsonl"))
    assert {r["difficulty"]["pass_rate"] for r in labelled} == {0.5}  # 2 of 4: a bare answer is no answer
    stats = json.loads(out.stats_path.read_text())
    assert stats["sample_status"] == {"correct": 14, "wrong": 7, "no_answer": 7}
    assert stats["output_buckets_by_domain"] == {DOMAIN: {"medium": 7}}
