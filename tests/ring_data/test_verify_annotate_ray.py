"""--engine ray for ``verify`` (Ray Data map_batches over the reference checks) and ``annotate`` (a pool
of ``hf:`` sampler actors) on a real local Ray cluster: the local engine's kept and rejects files byte
for byte, after a resume, and after an actor process is killed mid-run."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ring_data.annotate import AnnotateConfig, SamplingSettings, annotate  # noqa: E402
from ring_data.annotate.prompts import render_user_text  # noqa: E402
from ring_data.annotate.tiny_model import build_tiny_model  # noqa: E402
from ring_data.verify.pipeline import VerifyConfig, verify_file  # noqa: E402

ray = pytest.importorskip("ray")

RUN_FIELDS = {"seconds", "rows_per_s", "problems_per_s", "output", "rejects", "config", "engine"}
TIMINGS = {"generate_s", "verify_s", "verify_wait_s", "verify_share", "overlap"}


def _write(path: Path, rows: list[dict], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + extra)
    return path


def _files(out: Path) -> tuple[bytes, bytes]:
    return out.read_bytes(), out.with_name(out.name.replace(".jsonl", ".rejects.jsonl")).read_bytes()


MEASURED = ("wall_s", "memory_mb", "cpu_s")  # a failed code test's run, timed: differs run to run


def _blank(value):
    """``value`` with the measured time and memory of failed code tests blanked (two local runs
    differ there too); everything else must be equal."""
    if isinstance(value, dict):
        return {k: None if k in MEASURED else _blank(v) for k, v in value.items()}
    return [_blank(v) for v in value] if isinstance(value, list) else value


def _verify_files(out: Path) -> tuple[bytes, list]:
    """The kept file, and the rejects line by line (in order) with measurements blanked."""
    kept, rejects = _files(out)
    return kept, [_blank(json.loads(line)) for line in rejects.splitlines()]


def _same(a, b, skip=RUN_FIELDS) -> None:
    assert _blank({k: v for k, v in a.stats.items() if k not in skip}) == _blank(
        {k: v for k, v in b.stats.items() if k not in skip}
    )


# ---- verify ---------------------------------------------------------------------------------------
def _verify_rows() -> list[dict]:
    tests = [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}]
    right = "a, b = map(int, input().split())\nprint(a + b)"
    wrong = "a, b = map(int, input().split())\nprint(a * b)"
    rows = []
    for i in range(40):  # several map_batches blocks of every kind of verdict
        rows += [
            {"id": f"m{i}", "domain": "math", "prompt": "p", "reference": {"answer": f"\\frac{{{i}}}{{2}}"}},
            {"id": f"e{i}", "domain": "math", "prompt": "p", "reference": {"answer": ""}},
            {
                "id": f"c{i}",
                "domain": "math",
                "prompt": "p",
                "reference": {"answer": "2", "candidates": ["3", "3.0", "2"] if i % 2 else ["2", "2.0", "7"]},
            },
            {
                "id": f"s{i}",
                "domain": "science",
                "prompt": "p",
                "reference": {"answer": "F", "choices": ["1", "2"]},
            },
            {"id": f"u{i}", "domain": "alchemy", "prompt": "p", "reference": {"answer": "gold"}},
        ]
    for i in range(6):  # code: reference solutions run in the sandbox, inside the Ray workers
        rows.append(
            {
                "id": f"code{i}",
                "domain": "code",
                "prompt": "p",
                "reference": {"language": "python", "tests": tests, "solutions": [right if i % 3 else wrong]},
            }
        )
    rows.append(
        {
            "id": "untested",
            "domain": "code",
            "prompt": "p",
            "reference": {"language": "python", "tests": tests},
        }
    )
    return rows


@pytest.mark.usefixtures("ray_cluster")
def test_verify_on_ray_gives_the_local_engines_files_and_resumes(tmp_path):
    rows = _verify_rows()
    src = _write(tmp_path / "in.jsonl", rows)
    local = verify_file(src, tmp_path / "local.jsonl")
    on_ray = verify_file(src, tmp_path / "ray.jsonl", config=VerifyConfig(engine="ray"))
    assert _verify_files(tmp_path / "ray.jsonl") == _verify_files(tmp_path / "local.jsonl")
    _same(on_ray, local)
    assert on_ray.stats["config"]["engine"] == "ray"
    reasons = set(on_ray.rejected_by_reason)
    assert {"invalid_reference", "no_agreement", "unknown_domain", "reference_failed"} <= reasons
    assert "unverified_reference" in reasons and on_ray.kept > 40
    # resume: an earlier run got through the first half; the Ray run checks only the rest (a row's
    # source is its file's name, so the half has the same name)
    (tmp_path / "half").mkdir()
    half = _write(tmp_path / "half" / "in.jsonl", rows[: len(rows) // 2])
    verify_file(half, tmp_path / "resumed.jsonl")
    again = verify_file(src, tmp_path / "resumed.jsonl", config=VerifyConfig(engine="ray"))
    assert again.stats["skipped_resumed"] == len(rows) // 2
    assert _verify_files(tmp_path / "resumed.jsonl") == _verify_files(tmp_path / "local.jsonl")


# ---- annotate -------------------------------------------------------------------------------------
def _math(rid: str, prompt: str, answer: str) -> dict:
    return {"id": rid, "domain": "math", "prompt": prompt, "reference": {"answer": answer}}


EASY = [_math(f"easy{i}", f"Add {i} and {i + 1}.", str(2 * i + 1)) for i in range(4)]
COIN = [_math(f"coin{i}", f"Flip coin {i}.", "1") for i in range(8)]
NEVER = [_math(f"never{i}", f"Add 0 and {i}.", "99") for i in range(2)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pairs = [(render_user_text(r), f"\\boxed{{{r['reference']['answer']}}}") for r in EASY]
    for r in COIN:
        pairs += [(render_user_text(r), "\\boxed{1}"), (render_user_text(r), "\\boxed{2}")]
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "toy-math", train_pairs=pairs, steps=200))


@pytest.fixture(scope="module")
def annotate_input(tmp_path_factory):
    rows = []
    for k in range(2):  # interleaved: every sampler batch mixes learned, coin-flip and unsolvable rows
        rows += [{**r, "id": f"{r['id']}_{k}"} for r in COIN + EASY + NEVER]
    rows.insert(9, {"id": "alien", "domain": "alchemy", "prompt": "?", "reference": {}})
    return rows, _write(tmp_path_factory.mktemp("in") / "in.jsonl", rows, extra="{not json\n")


SETTINGS = SamplingSettings(max_tokens=12, seed=3)
ANNOTATE = AnnotateConfig(n=4, batch_size=3, drop_extremes=True, on_bad_row="reject", overlap=False)


def _annotate(src, out, spec, config, **kw):
    return annotate(src, out, spec, config=config, settings=SETTINGS, sampler_options={"batch_size": 8}, **kw)


@pytest.fixture(scope="module")
def local_run(model_dir, annotate_input, tmp_path_factory):
    """The local engine's run on the input: what every Ray run must give."""
    _, src = annotate_input
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    return _annotate(src, out, f"hf:{model_dir}", ANNOTATE), out


@pytest.mark.usefixtures("ray_cluster")
def test_annotate_on_ray_actors_gives_the_local_engines_files(model_dir, annotate_input, local_run, tmp_path):
    _, src = annotate_input
    local, local_out = local_run
    on_ray = _annotate(
        src, tmp_path / "ray.jsonl", f"hf:{model_dir}", replace(ANNOTATE, engine="ray", actors=2)
    )
    assert _files(tmp_path / "ray.jsonl") == _files(local_out)
    _same(on_ray, local, RUN_FIELDS | TIMINGS)
    assert on_ray.stats["engine"] == "ray" and local.stats["engine"] == "local"
    kept = [json.loads(x) for x in (tmp_path / "ray.jsonl").read_text().splitlines()]
    assert kept and all(0 < r["difficulty"]["pass_rate"] < 1 for r in kept)  # coin flips, really sampled
    assert {"extreme_pass_rate", "unknown_domain", "bad_row"} <= set(on_ray.rejected_by_reason)


@pytest.mark.usefixtures("ray_cluster")
def test_ray_annotate_resumes_and_a_killed_actor_is_restarted(
    model_dir, annotate_input, local_run, tmp_path, monkeypatch
):
    """An earlier run wrote the first rows; the rerun on Ray samples only the rest. Its sampler,
    registered from user code (it travels to the actors by value), kills its own actor process with
    SIGKILL on its first batch: Ray restarts the actor, which loads the model again and reruns the
    batch. The files are still the local engine's."""
    import importlib.util

    from ring_data.annotate.samplers import base

    monkeypatch.setattr(base, "_SAMPLERS", dict(base._SAMPLERS))
    marker = tmp_path / "killed.pid"
    source = f"""
import os, signal
from ring_data.annotate.samplers import register_sampler
from ring_data.annotate.samplers.hf import HFSampler

@register_sampler("hf_killed_once")
class KilledOnce(HFSampler):
    def sample(self, prompts, n):
        if os.getpid() != {os.getpid()} and not os.path.exists({str(marker)!r}):
            with open({str(marker)!r}, "w") as fh:
                fh.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().sample(prompts, n)
"""
    path = tmp_path / "user_sampler.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("user_sampler", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "user_sampler", module)
    spec.loader.exec_module(module)
    ray.cloudpickle.register_pickle_by_value(module)

    rows, src = annotate_input
    (tmp_path / "first").mkdir()
    first = _write(tmp_path / "first" / src.name, rows[:10])  # a row's source is its file's name
    _annotate(first, tmp_path / "ray.jsonl", f"hf:{model_dir}", ANNOTATE)
    again = _annotate(
        src, tmp_path / "ray.jsonl", f"hf_killed_once:{model_dir}", replace(ANNOTATE, engine="ray")
    )
    assert again.stats["skipped_resumed"] == 10
    killed = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # that actor process is gone; its restarted successor did the batch
    local, local_out = local_run
    assert _files(tmp_path / "ray.jsonl") == _files(local_out)
    assert (again.kept, again.rejected) == (local.kept, local.rejected)


def test_a_problems_samples_depend_on_its_seed_and_id_only(model_dir):
    """What makes the actors' output the local engine's: a problem's samples come from its own seed,
    whatever batch, batch size or order it is drawn in (hf), and vLLM gets that seed per request."""
    from ring_data.annotate.prompts import build_prompt
    from ring_data.annotate.samplers import make_sampler
    from ring_data.annotate.seeding import row_seed

    rows = COIN[:4] + EASY[:2]
    prompts = [build_prompt(r) for r in rows]
    whole = make_sampler(f"hf:{model_dir}", SETTINGS, batch_size=64).sample(prompts, 6)
    alone = [make_sampler(f"hf:{model_dir}", SETTINGS, batch_size=6).sample([p], 6)[0] for p in prompts]
    mixed = make_sampler(f"hf:{model_dir}", SETTINGS, batch_size=12).sample(prompts[::-1], 6)[::-1]
    assert whole == alone == mixed
    assert len({tuple(r) for r in whole[:4]}) > 1  # coin flips: each problem its own draws
    other = make_sampler(f"hf:{model_dir}", replace(SETTINGS, seed=4), batch_size=64).sample(prompts, 6)
    assert other != whole

    vllm = pytest.importorskip("vllm", reason="the dev install puts vllm's wheel (API classes) here")
    from ring_data.annotate.samplers.vllm import sampling_params

    params = sampling_params(vllm, SETTINGS, 6, seed=row_seed(3, "coin0"))
    assert isinstance(params, vllm.SamplingParams) and params.seed == row_seed(3, "coin0")
    assert row_seed(3, "coin0") != row_seed(3, "coin1") and 0 <= row_seed(3, "coin0") < 2**31
