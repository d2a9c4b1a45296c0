"""ifeval against the official IFEval checker on real model output.

The data (GPT-4's answers to the 541 IFEval prompts with the official checker's verdict for each
instruction, strict and loose) lives in the shared data folder beside the repository, not in it; the
test is skipped where that folder is absent. Each instruction's verdict comes from the public API
(``verifiers.verify(..., "ifeval")``, its ``instructions`` detail) and is compared with the official one.
"""

import json
from pathlib import Path

import pytest

from verifiers import verify

DATA = Path(__file__).resolve().parents[3] / "shared/data/ifeval_real/gpt4.jsonl"
TARGET = 0.998  # per-instruction agreement, strict and loose: at most 1 of the 832 may differ

pytestmark = pytest.mark.skipif(not DATA.is_file(), reason=f"official IFEval verdicts not found at {DATA}")


def _agreement(rows: list[dict], mode: str) -> dict:
    """Instruction- and prompt-level agreement with the official verdicts of ``mode``. An undefined
    official verdict (null: a random letter in the official letter_frequency) is left out, and so is
    its prompt from the prompt-level count."""
    agree = total = prompts_agree = prompts = 0
    differ = []
    for row in rows:
        ref = {"instruction_id_list": row["instruction_id_list"], "kwargs": row["kwargs"]}
        res = verify(row["response"], ref, "ifeval", loose=mode == "loose")
        ours = [i["followed"] for i in res.details["instructions"]]
        official = row[f"official_{mode}"]
        pairs = [(o, f) for o, f in zip(ours, official, strict=True) if f is not None]
        agree += sum(o == f for o, f in pairs)
        total += len(pairs)
        differ += [
            (row["key"], iid)
            for iid, o, f in zip(row["instruction_id_list"], ours, official)
            if f not in (None, o)
        ]
        if None not in official:
            prompts += 1
            prompts_agree += ours == official
    return {
        "agree": agree,
        "total": total,
        "prompts_agree": prompts_agree,
        "prompts": prompts,
        "differ": differ,
    }


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with DATA.open() as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("mode", ["strict", "loose"])
def test_agrees_with_the_official_checker(rows, mode, record_property):
    a = _agreement(rows, mode)
    rate = a["agree"] / a["total"]
    figures = (
        f"{mode}: instructions {a['agree']}/{a['total']} ({rate:.2%}), "
        f"prompts {a['prompts_agree']}/{a['prompts']} ({a['prompts_agree'] / a['prompts']:.2%}); "
        f"differ: {a['differ']}"
    )
    print(figures)
    record_property(f"ifeval_official_{mode}", figures)
    assert a["total"] == 832 and a["prompts"] == 539
    assert rate >= TARGET, figures
