"""The four commands of the kill tests: their small inputs (built from the same parts the commands'
own tests use), how each is started in a folder, and what "the same result" means for it.

Keys left out of the comparisons, and why (everything else must be equal):

- every stats file: ``written_at`` (the wall-clock time of writing) and ``seconds`` (run time);
- the numbers of ``wall_s`` and ``memory_mb`` wherever they appear in a reject's evidence (and so in
  the stats' examples): what the sandbox measured running a failing code reference's test, different
  in any two runs, killed or not (the rest of each line is compared byte for byte);
- clean: ``stage_seconds``, ``rows_per_s`` (timing); ``resumed_stages`` (the stages this invocation
  loaded from the work directory rather than computed: by design it differs after a kill);
- verify: ``rows_per_s`` (timing); ``skipped_resumed``, ``checked`` (how many rows this invocation
  skipped as already journaled, or checked: its share of the work, not the output's content;
  ``kept``, ``rejected``, ``rejected_by_reason``, ``by_domain`` and ``examples`` cover the whole
  output and are compared);
- annotate: ``problems_per_s``, ``generate_s``, ``verify_s``, ``verify_wait_s``, ``verify_share``
  (timing); ``skipped_resumed``, ``annotated``, ``samples_scored``, ``sample_status`` (this
  invocation's work, as above; the ``output_*`` summaries cover the whole output and are compared);
- rl: the ``perf/*`` keys of each metrics record (timing); ``stages.<stage>.seconds`` of
  ``rl.stats.json`` and ``elapsed`` of the trainer state (the time spent training, which a resumed
  run counts again for the steps it redoes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from kill_harness import (
    Command,
    Comparison,
    comparable_json,
    diff_keys,
    leftovers,
    lost_and_duplicated,
    same_bytes,
)

TIMING = {"written_at", "seconds"}
STATS_EXCLUDED = {
    "clean": TIMING | {"stage_seconds", "rows_per_s", "resumed_stages"},
    "verify": TIMING | {"rows_per_s", "skipped_resumed", "checked"},
    "annotate": TIMING
    | {"problems_per_s", "generate_s", "verify_s", "verify_wait_s", "verify_share"}
    | {"skipped_resumed", "annotated", "samples_scored", "sample_status"},
}
# the sandbox's measurements in a failing code reference's evidence (its value masked, its key kept)
MEASURED = re.compile(rb'("(?:wall_s|memory_mb)":)-?[0-9][0-9.eE+-]*')
BAD_LINE = '{"id": "torn-input", "domain": "math", "prompt": '  # not JSON: a bad row


def _write_jsonl(path: Path, rows: list, bad_at: tuple[int, ...] = ()) -> Path:
    lines = [json.dumps(r) for r in rows]
    for i in sorted(bad_at, reverse=True):
        lines.insert(i, BAD_LINE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- the three data commands ---------------------------------------------------------------------------
def _stats_key_dropped(name: str) -> Callable[[str], bool]:
    """The stats keys left out of the comparison of ``name``'s stats (dotted paths)."""
    excluded = STATS_EXCLUDED[name]
    return lambda key: key in excluded or key.rsplit(".", 1)[-1] in ("wall_s", "memory_mb")


def _compare_data(name: str, out: str, rej: str) -> Callable[[Path, Path], Comparison]:
    drop = _stats_key_dropped(name)

    def compare(reference: Path, folder: Path) -> Comparison:
        c = Comparison()
        for label in (out, rej):
            c.mismatches += same_bytes(reference / label, folder / label, label, MEASURED)
            lost, dup = lost_and_duplicated(reference / label, folder / label)
            c.lost_rows += lost
            c.duplicated_rows += dup
        stats = f"{out}.stats.json"
        want = comparable_json(reference / stats, reference, drop)
        got = comparable_json(folder / stats, folder, drop)
        c.mismatches += [f"{stats}: {k} differs" for k in diff_keys(want, got)]
        c.mismatches += [f"left behind: {p}" for p in leftovers(folder)]
        return c

    return compare


def _after_kill_data(name: str, out: str, rej: str) -> Callable[[Path, Path], list[str]]:
    """A killed data command leaves its final files complete or absent: any that exists is already
    the reference's (the chain's runs all produce the same output; only a partial journal, a hidden
    temporary file or the clean work directory may hold unfinished work)."""
    drop = _stats_key_dropped(name)

    def check(reference: Path, folder: Path) -> list[str]:
        problems = []
        for label in (out, rej):
            if (folder / label).exists():
                problems += same_bytes(reference / label, folder / label, label, MEASURED)
        stats = f"{out}.stats.json"
        if (folder / stats).exists():
            try:
                got = comparable_json(folder / stats, folder, drop)
            except ValueError:
                return [*problems, f"{stats}: not JSON"]
            want = comparable_json(reference / stats, reference, drop)
            problems += [f"{stats}: {k} differs" for k in diff_keys(want, got)]
        return problems

    return check


def clean_command(inputs: Path) -> Command:
    """``ring-data clean`` over a seeded corpus with duplicates, near duplicates and two bad lines."""
    from ring_data.clean.corpus import make_corpus

    src = _write_jsonl(inputs / "clean_in.jsonl", make_corpus(800, seed=17), bad_at=(200, 600))
    return Command(
        "clean",
        "cli.ring_data",
        lambda d: ["clean", str(src), "-o", str(d / "out.jsonl"), "--on-bad-row", "reject"],
        _compare_data("clean", "out.jsonl", "out.rejects.jsonl"),
        _after_kill_data("clean", "out.jsonl", "out.rejects.jsonl"),
    )


def _code_row(i: int, passes: bool) -> dict:
    tests = [{"input": f"{i}\n", "output": f"{i + 1}\n"}, {"input": "1\n", "output": "2\n"}]
    solution = "print(int(input()) + 1)" if passes else "print(int(input()) + 2)"
    return {"id": f"code{i}", "domain": "code", "prompt": f"Add one ({i}).",
            "reference": {"tests": tests, "solutions": [solution], "language": "python"}}  # fmt: skip


def verify_rows() -> list[dict]:
    rows = []
    for i in range(24):
        if i in (5, 11):  # one code reference that passes its tests, one that fails them
            rows.append(_code_row(i, passes=i == 5))
            continue
        answer = str(i)
        kind = i % 4
        ref = {"answer": answer}
        if kind == 1:  # candidates agree (one as a fraction)
            ref["candidates"] = [answer, f"\\frac{{{2 * i}}}{{2}}", answer]
        elif kind == 2:  # candidates disagree
            ref["candidates"] = [str(i + 1), str(i + 1), answer]
        elif kind == 3:
            ref = {"answer": ""}  # invalid
        rows.append({"id": f"m{i}", "domain": "math", "prompt": f"Problem {i}.", "reference": ref})
    rows.insert(7, {"id": "alien", "domain": "alchemy", "prompt": "Turn lead into gold.", "reference": {}})
    rows.append(dict(rows[3]))  # a repeated id: both occurrences are decided (and written)
    rows.append(dict(rows[5]))
    return rows


def verify_command(inputs: Path) -> Command:
    """``ring-data verify``: math references with agreeing and disagreeing candidates, invalid ones,
    code references run in the sandbox, an unknown domain, repeated ids and two bad lines."""
    src = _write_jsonl(inputs / "verify_in.jsonl", verify_rows(), bad_at=(4, 17))
    return Command(
        "verify",
        "cli.ring_data",
        lambda d: [
            "verify",
            str(src),
            "-o",
            str(d / "out.jsonl"),
            "--on-bad-row",
            "reject",
            "--workers",
            "2",
        ],
        _compare_data("verify", "out.jsonl", "out.rejects.jsonl"),
        _after_kill_data("verify", "out.jsonl", "out.rejects.jsonl"),
    )


def annotate_rows() -> list[dict]:
    """IFEval word-count rows (an untrained model's random text passes some of its samples, so pass
    rates fall between 0 and 1 and depend on the exact samples), math rows it never solves, an unknown
    domain and a repeated id."""
    rows = []
    for i in range(15):
        limit = 2 + i % 5
        ref = {"instructions": [{"id": "length_constraints:number_words",
                                 "kwargs": {"relation": "less than", "num_words": limit}}]}  # fmt: skip
        rows.append({"id": f"if{i}", "domain": "ifeval", "prompt": f"Say something short, take {i}.",
                     "reference": ref})  # fmt: skip
        if i % 4 == 3:
            rows.append({"id": f"m{i}", "domain": "math", "prompt": f"Add {i} and {i}.",
                         "reference": {"answer": str(2 * i)}})  # fmt: skip
    rows.insert(6, {"id": "alien", "domain": "alchemy", "prompt": "?", "reference": {}})
    rows.append(dict(rows[2]))
    return rows


def tiny_policy(inputs: Path) -> Path:
    """One untrained tiny policy for annotate (its sampler) and rl (the policy trained), built once."""
    from ring_train.models.tiny import create_tiny_policy

    texts = [r["prompt"] for r in annotate_rows()] + [r["prompt"] for r in rl_rows()]
    return create_tiny_policy(
        inputs / "tiny-policy", texts, vocab_size=300, seed=0,
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64,
    )  # fmt: skip


def annotate_command(inputs: Path, model: Path) -> Command:
    """``ring-data annotate`` with the hf sampler on an untrained tiny model (seeded per row; one
    prompt per generate call, so a row's samples do not depend on which rows share its batch)."""
    src = _write_jsonl(inputs / "annotate_in.jsonl", annotate_rows(), bad_at=(9,))
    base = _compare_data("annotate", "out.jsonl", "out.rejects.jsonl")

    def compare(reference: Path, folder: Path) -> Comparison:
        c = base(reference, folder)
        # a resumed run drops the samples a killed one wrote for rows it did not record: same file
        c.mismatches += same_bytes(reference / "samples.jsonl", folder / "samples.jsonl", "samples.jsonl")
        return c

    return Command(
        "annotate",
        "cli.ring_data",
        lambda d: [
            "annotate",
            str(src),
            "-o",
            str(d / "out.jsonl"),
            "--sampler",
            f"hf:{model}",
            "--n",
            "4",
            "--max-tokens",
            "8",
            "--temperature",
            "1.0",
            "--seed",
            "3",
            "--batch-size",
            "3",
            "--gen-batch",
            "4",
            "--drop-extremes",
            "--on-bad-row",
            "reject",
            "--save-samples",
            str(d / "samples.jsonl"),
            "--verify-workers",
            "1",
        ],  # fmt: skip
        compare,
        _after_kill_data("annotate", "out.jsonl", "out.rejects.jsonl"),
    )


# ---- ring-train rl -------------------------------------------------------------------------------------
def rl_rows() -> list[dict]:
    from ring_train.recipes.arithmetic import problem_row

    return [problem_row(a, b) for a, b in [(12, 34), (56, 7), (81, 19), (40, 44), (23, 23), (70, 15)]]


def rl_command(inputs: Path, model: Path) -> Command:
    """``ring-train rl`` (embedded backend, hf rollouts) on a tiny random policy: 4 steps of 2 prompts
    x 3 responses, a checkpoint every step. Random weights earn no reward; the entropy bonus moves the
    weights every step, so a wrongly restored state shows in the metrics and the weights."""
    import yaml

    from ring_data.rows import write_jsonl

    write_jsonl(inputs / "rl_math.jsonl", rl_rows())

    def prepare(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        raw = {
            "model": str(model),
            "run_dir": str(folder / "run"),
            "seed": 3,
            "stages": [{"name": "reasoning", "datasets": {str(inputs / "rl_math.jsonl"): 1.0}, "steps": 4}],
            "rollout": {"prompts_per_step": 2, "group_size": 3, "max_new_tokens": 8},
            "c3po": {"budget": 24},
            "advantage": {"filter_zero_variance": False},
            "loss": {"entropy_coef": 0.05, "kl_beta": 0.0},
            "optim": {"lr": 0.01},
            "checkpoint_every": 1,
            "lanes": 1,
            "logger": "none",
        }
        (folder / "rl.yaml").write_text(yaml.safe_dump(raw))

    def argv(folder: Path) -> list[str]:
        resume = (folder / "run" / "checkpoints" / "LATEST").exists()  # what a user would do
        return [
            "rl",
            "--config",
            str(folder / "rl.yaml"),
            "--threads",
            "1",
            *(["--resume"] if resume else []),
        ]

    return Command("rl", "cli.ring_train", argv, compare_rl, after_kill_rl, prepare)


def compare_rl(reference: Path, folder: Path) -> Comparison:
    import torch
    from safetensors.torch import load_file

    from ring_train.metrics import read_metrics

    c = Comparison()
    a, b = reference / "run", folder / "run"

    def records(run: Path) -> list[dict]:
        return [
            {k: v for k, v in r.items() if not k.startswith("perf/")}
            for r in read_metrics(run / "metrics.jsonl")
        ]

    want, got = records(a), records(b)
    if want != got:
        steps = [r.get("global_step") for r in got]
        c.mismatches.append(f"metrics.jsonl differs (steps {steps})")
        c.lost_rows += max(0, len(want) - len(got))
        c.duplicated_rows += max(0, len(got) - len(want))

    def drop(key: str) -> bool:
        return key == "written_at" or (key.startswith("stages.") and key.endswith(".seconds"))

    sa, sb = (
        comparable_json(a / "rl.stats.json", reference, drop),
        comparable_json(b / "rl.stats.json", folder, drop),
    )
    c.mismatches += [f"rl.stats.json: {k} differs" for k in diff_keys(sa, sb)]

    def same_weights(x: Path, y: Path, label: str) -> None:
        ta, tb = load_file(str(x)), load_file(str(y))
        if ta.keys() != tb.keys() or any(not torch.equal(ta[k], tb[k]) for k in ta):
            c.mismatches.append(f"{label}: weights differ")

    same_weights(a / "stages/reasoning/final/model.safetensors", b / "stages/reasoning/final/model.safetensors",
                 "final policy")  # fmt: skip
    latest = (a / "checkpoints" / "LATEST").read_text()
    if (b / "checkpoints" / "LATEST").read_text() != latest:
        c.mismatches.append("checkpoints/LATEST names another checkpoint")
    else:
        ck = latest.strip()
        same_weights(a / "checkpoints" / ck / "policy/model.safetensors", b / "checkpoints" / ck / "policy/model.safetensors",
                     f"checkpoint {ck} policy")  # fmt: skip
        c.mismatches += _trainer_state_diff(a / "checkpoints" / ck, b / "checkpoints" / ck)
    names = lambda run: sorted(p.name for p in (run / "checkpoints").iterdir())  # noqa: E731
    if names(a) != names(b):
        c.mismatches.append(f"checkpoints differ: {names(a)} vs {names(b)}")
    c.mismatches += [f"left behind: {p}" for p in leftovers(folder)]
    return c


def after_kill_rl(reference: Path, folder: Path) -> list[str]:
    """A killed run leaves ``LATEST`` naming a complete checkpoint (readable state and weights, equal to
    the reference's checkpoint of that step when the reference kept it), metrics that read (a torn
    last line aside) as a prefix of the reference's, and no half-saved final policy."""
    from ring_data.errors import UserError
    from ring_train import checkpoint
    from ring_train.metrics import read_metrics

    a, b = reference / "run", folder / "run"
    problems = []
    try:
        ck = checkpoint.latest(b)
    except UserError as e:
        return [f"checkpoints/LATEST: {e}"]
    saves = sorted((b / "checkpoints").iterdir()) if (b / "checkpoints").is_dir() else []
    for saved in saves:  # every folder under a checkpoint's name
        if re.fullmatch(r"[^.].*-step\d+", saved.name) and not (saved / "trainer_state.pt").exists():
            problems.append(f"{saved.name}: a checkpoint folder without its trainer state")
    if ck is not None:
        try:
            checkpoint.check_policy_files(ck / "policy")
            import torch

            torch.load(ck / "trainer_state.pt", weights_only=False)
        except Exception as e:  # noqa: BLE001 - any failure to read is the finding
            problems.append(f"{ck.name}: incomplete ({type(e).__name__}: {e})")
        else:
            twin = a / "checkpoints" / ck.name
            if twin.exists():
                problems += _trainer_state_diff(twin, ck)
    if (b / "metrics.jsonl").exists():
        strip = lambda rs: [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rs]  # noqa: E731
        try:
            got = strip(read_metrics(b / "metrics.jsonl"))
        except ValueError as e:
            return [*problems, f"metrics.jsonl: unreadable ({e})"]
        if got != strip(read_metrics(a / "metrics.jsonl"))[: len(got)]:
            problems.append("metrics.jsonl: not a prefix of the reference's")
    final = "stages/reasoning/final/model.safetensors"
    if (b / final).exists():
        import torch
        from safetensors.torch import load_file

        ta, tb = load_file(str(a / final)), load_file(str(b / final))
        if ta.keys() != tb.keys() or any(not torch.equal(ta[k], tb[k]) for k in ta):
            problems.append("final policy: weights differ")
    return problems


def _trainer_state_diff(a: Path, b: Path) -> list[str]:
    import torch

    sa = torch.load(a / "trainer_state.pt", weights_only=False)
    sb = torch.load(b / "trainer_state.pt", weights_only=False)
    out = []
    for key in sorted(set(sa) | set(sb)):
        if key == "elapsed":  # time spent training
            continue
        if not _equal(sa.get(key), sb.get(key)):
            out.append(f"trainer_state {key} differs")
    return out


def _equal(x, y) -> bool:
    import torch

    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        return isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and torch.equal(x, y)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple) and isinstance(y, list | tuple):
        return len(x) == len(y) and all(_equal(p, q) for p, q in zip(x, y))
    return x == y
