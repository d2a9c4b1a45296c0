"""The four samplers on real parts: a tiny transformers model trained here for a few seconds, a real
OpenAI-compatible HTTP server on loopback serving that model, a samples file, and vLLM up to its boundary."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ring_data.annotate.prompts import build_prompt, render_user_text  # noqa: E402
from ring_data.annotate.samplers import SamplingSettings, make_sampler  # noqa: E402
from ring_data.annotate.samplers.openai import RequestFailed  # noqa: E402
from ring_data.annotate.server import OpenAICompatServer, OpenAIHandler  # noqa: E402
from ring_data.annotate.tiny_model import build_tiny_model  # noqa: E402
from ring_data.errors import BadInputError, UserError  # noqa: E402

EASY = [{"id": f"easy{i}", "domain": "math", "prompt": f"Add {i} and {i + 1}."} for i in range(3)]
COIN = [{"id": f"coin{i}", "domain": "math", "prompt": f"Flip coin {i}."} for i in range(2)]


def training_pairs():
    pairs = [(render_user_text(r), f"\\boxed{{{2 * i + 1}}}") for i, r in enumerate(EASY)]
    for r in COIN:  # two answers for one prompt: the model learns to pick either
        pairs += [(render_user_text(r), "\\boxed{1}"), (render_user_text(r), "\\boxed{2}")]
    return pairs


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(
        build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", train_pairs=training_pairs(), steps=120)
    )


def prompts(rows):
    return [build_prompt(r) for r in rows]


def test_hf_sampler_learned_answers_and_a_real_distribution(model_dir):
    sampler = make_sampler(f"hf:{model_dir}", SamplingSettings(max_tokens=12), batch_size=16)
    out = sampler.sample(prompts(EASY + COIN), 8)
    assert [len(x) for x in out] == [8] * 5
    for i, responses in enumerate(out[:3]):  # learned: mostly the trained answer (easy0's is ~77%)
        assert responses.count(f"\\boxed{{{2 * i + 1}}}") >= 5, responses
    coin = [r for responses in out[3:] for r in responses]
    assert {"\\boxed{1}", "\\boxed{2}"} <= set(coin), coin  # sampling, not argmax
    assert sampler.model == "m"


def test_hf_sampler_seed_makes_runs_repeatable_and_batching_changes_nothing_shape_wise(model_dir):
    settings = SamplingSettings(max_tokens=8, seed=7)
    a = make_sampler(f"hf:{model_dir}", settings, batch_size=8).sample(prompts(COIN), 8)
    b = make_sampler(f"hf:{model_dir}", settings, batch_size=8).sample(prompts(COIN), 8)
    assert a == b
    small = make_sampler(f"hf:{model_dir}", settings, batch_size=3).sample(prompts(EASY + COIN), 4)
    assert [len(x) for x in small] == [4] * 5


def test_hf_completions_are_the_samples_with_their_token_counts_and_cuts(model_dir):
    """One generation loop: ``sample`` is the texts of ``sample_completions``; a completion's tokens are
    those before end-of-sequence (the text re-encodes to them) and it is cut exactly when there is none."""
    rows = prompts(EASY + COIN)
    settings = SamplingSettings(max_tokens=12, seed=5)
    sampler = make_sampler(f"hf:{model_dir}", settings, batch_size=16)
    full = sampler.sample_completions(rows, 4)
    assert [[c.text for c in group] for group in full] == sampler.sample(rows, 4)
    tok = sampler.tokenizer
    for c in (c for group in full for c in group):
        assert c.truncated is False and 0 < c.tokens < 12, c  # the model learned to stop
        assert len(tok(c.text, add_special_tokens=False).input_ids) == c.tokens
    cut = make_sampler(f"hf:{model_dir}", replace(settings, max_tokens=3)).sample_completions(rows, 2)
    assert all(c.truncated is True and c.tokens == 3 for group in cut for c in group)
    assert [c.text for c in cut[0]] == [
        tok.decode(tok(c.text, add_special_tokens=False).input_ids[:3]) for c in full[0][:2]
    ]  # the same draws as with room to finish, stopped after 3 tokens
    greedy = make_sampler(f"hf:{model_dir}", SamplingSettings(temperature=0, max_tokens=12))
    (once,) = greedy.sample_completions(rows[:1], 3)
    assert once == [once[0]] * 3 and once[0].truncated is False


def test_hf_sampler_chat_template_options(model_dir, tmp_path):
    row = EASY[0]
    raw = make_sampler(f"hf:{model_dir}", SamplingSettings(chat_template="none"))
    assert raw.render(build_prompt(row)) == render_user_text(row)
    chat = make_sampler(f"hf:{model_dir}", SamplingSettings())
    assert chat.render(build_prompt(row, system_prompt="Be brief.")).startswith(
        "<|im_start|>system\nBe brief."
    )
    custom = tmp_path / "t.jinja"
    custom.write_text("{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}A:")
    sampler = make_sampler(f"hf:{model_dir}", SamplingSettings(chat_template=str(custom)))
    assert sampler.render(build_prompt(row)) == f"Q: {render_user_text(row)}\nA:"
    with pytest.raises(UserError, match="no such model"):
        make_sampler(f"hf:{tmp_path / 'missing'}")
    with pytest.raises(UserError, match="--dtype must be a torch dtype"):
        make_sampler(f"hf:{model_dir}", dtype="float33")


def test_openai_sampler_against_loopback_server_matches_local_model(model_dir):
    greedy = SamplingSettings(temperature=0, max_tokens=12)
    local = make_sampler(f"hf:{model_dir}", greedy).sample(prompts(EASY), 2)
    with OpenAICompatServer(model_dir, model_name="tiny-served") as srv:
        remote = make_sampler(f"openai:{srv.url}", greedy, concurrency=3)
        assert remote.model == "tiny-served"  # found through GET /v1/models
        assert remote.sample(prompts(EASY), 2) == local  # the server really runs the model
        sampled = make_sampler(f"openai:{srv.url}", SamplingSettings(max_tokens=12)).sample(prompts(COIN), 8)
        assert [len(x) for x in sampled] == [8, 8]
        assert {"\\boxed{1}", "\\boxed{2}"} <= {r for x in sampled for r in x}
        completions = make_sampler(f"openai:{srv.url}", greedy, api="completions").sample(prompts(EASY), 3)
        assert [len(x) for x in completions] == [3, 3, 3]


def test_openai_completions_take_truncation_from_finish_reason(model_dir):
    """The loopback server reports ``finish_reason`` "length" for a response cut at ``max_tokens``, as
    vLLM does; token counts are not in a choice (``usage`` sums all of a request's choices)."""
    with OpenAICompatServer(model_dir) as srv:
        for max_tokens, truncated in ((2, True), (16, False)):  # the learned answer takes ~5 tokens
            sampler = make_sampler(f"openai:{srv.url}", SamplingSettings(max_tokens=max_tokens))
            got = sampler.sample_completions(prompts(EASY[:2]), 3)
            assert [len(group) for group in got] == [3, 3]
            assert {(c.tokens, c.truncated) for group in got for c in group} == {(None, truncated)}, got
            assert sampler.sample(prompts(EASY[:2]), 3) == [[c.text for c in group] for group in got]
        raw = make_sampler(f"openai:{srv.url}", SamplingSettings(max_tokens=2), api="completions")
        assert all(isinstance(c.truncated, bool) for c in raw.sample_completions(prompts(EASY[:2]), 3)[0])


class IgnoresN(OpenAIHandler):
    """A server that returns one choice whatever n asks (some servers do)."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["n"] = 1
        data = json.dumps(body).encode()
        self.headers.replace_header("Content-Length", str(len(data)))
        import io

        self.rfile = io.BytesIO(data)
        super().do_POST()


class FlakyFirst(OpenAIHandler):
    failures = 2

    def do_POST(self):
        if FlakyFirst.failures > 0:
            FlakyFirst.failures -= 1
            self.rfile.read(int(self.headers["Content-Length"]))
            return self._error(503, "overloaded")
        super().do_POST()


class Slow(OpenAIHandler):
    def do_POST(self):
        time.sleep(1.5)
        super().do_POST()


def test_openai_sampler_tops_up_when_server_ignores_n(model_dir):
    with OpenAICompatServer(model_dir, handler=IgnoresN) as srv:
        sampler = make_sampler(f"openai:{srv.url}", SamplingSettings(max_tokens=6), model_name="tiny")
        out = sampler.sample(prompts(COIN), 4)
        assert [len(x) for x in out] == [4, 4]
        assert sampler.requests_sent == 8  # 4 one-choice requests per prompt


def test_openai_sampler_retries_5xx_with_backoff(model_dir):
    with OpenAICompatServer(model_dir, handler=FlakyFirst) as srv:
        sampler = make_sampler(
            f"openai:{srv.url}",
            SamplingSettings(max_tokens=6),
            model_name="tiny",
            backoff=0.01,
            concurrency=1,
        )
        out = sampler.sample(prompts(EASY[:1]), 2)
        assert len(out[0]) == 2
        assert sampler.retries_done == 2


def test_openai_sampler_timeout_and_client_errors_are_one_line(model_dir):
    with OpenAICompatServer(model_dir, handler=Slow) as srv:
        sampler = make_sampler(
            f"openai:{srv.url}",
            SamplingSettings(max_tokens=4),
            model_name="tiny",
            timeout=0.3,
            retries=1,
            backoff=0.01,
        )
        t0 = time.perf_counter()
        with pytest.raises(RequestFailed, match="failed after 2 attempts") as err:
            sampler.sample(prompts(EASY[:1]), 1)
        assert time.perf_counter() - t0 < 3
        assert "\n" not in str(err.value)
    with OpenAICompatServer(model_dir) as srv:
        wrong = make_sampler(f"openai:{srv.url.replace('/v1', '/v2')}", model_name="tiny", retries=3)
        with pytest.raises(RequestFailed, match="HTTP 404"):
            wrong.sample(prompts(EASY[:1]), 1)
        assert wrong.requests_sent == 1  # a 4xx is not retried
    with pytest.raises(RequestFailed, match="failed after"):  # nothing listening
        make_sampler("openai:http://127.0.0.1:9", retries=0)


def test_samples_file_sampler(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        json.dumps({"id": "a", "responses": ["1", "2", "3"], "model": "m7"})
        + "\n"
        + json.dumps({"id": "b", "responses": ["x"]})
        + "\n"
    )
    sampler = make_sampler(f"samples:{path}")
    rows = [{"id": i, "domain": "math", "prompt": "p"} for i in ("a", "b", "zzz")]
    assert sampler.sample(prompts(rows), 2) == [["1", "2"], ["x"], []]
    assert sampler.model == "m7"
    path.write_text(
        json.dumps({"id": "a", "responses": ["1"]}) + "\n" + json.dumps({"id": "b", "responses": "1"})
    )
    with pytest.raises(BadInputError, match=r"s.jsonl:2: field 'responses'"):
        make_sampler(f"samples:{path}")


def test_samples_file_lengths_truncation_and_benchmarks(tmp_path):
    from ring_data.annotate.samplers import Completion

    path = tmp_path / "s.jsonl"
    lines = [
        {
            "id": "a",
            "benchmark": "b1",
            "responses": ["x", "y"],
            "lengths": [3, None],
            "truncated": [True, None],
        },
        {"id": "a", "benchmark": "b2", "responses": ["z"], "lengths": [9], "truncated": [False]},
        {"id": "c", "responses": ["w"]},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    sampler = make_sampler(f"samples:{path}")
    a, c = prompts([{"id": i, "domain": "math", "prompt": "p"} for i in ("a", "c")])
    assert sampler.sample_completions([a, c], 5) == [[Completion("z", 9, False)], [Completion("w")]]
    assert sampler.sample([a], 5) == [["z"]]  # annotate: the last line for an id
    assert sampler.lookup("a", 1, "b1") == [Completion("x", 3, True)]  # eval: that benchmark's line
    assert sampler.lookup("c", 5, "b1") == [Completion("w")]  # a line without a benchmark serves any
    assert sampler.lookup("a", 5, "b3") == []
    for bad, field in (
        ({"lengths": [1]}, "lengths"),  # not as long as responses
        ({"lengths": [1, -2]}, "lengths"),
        ({"lengths": [1, True]}, "lengths"),
        ({"truncated": [0, 1]}, "truncated"),
        ({"truncated": "no"}, "truncated"),
    ):
        path.write_text(
            json.dumps({"id": "ok", "responses": ["1"]})
            + "\n"
            + json.dumps({"id": "a", "responses": ["1", "2"], **bad})
        )
        with pytest.raises(BadInputError, match=rf"s.jsonl:2: field '{field}'"):
            make_sampler(f"samples:{path}")


def test_a_user_sampler_implements_either_method(monkeypatch):
    """``sample`` only: its completions carry no tokens or truncation; ``sample_completions`` only:
    ``sample`` is its texts; neither: refused when registered (each default calls the other)."""
    from ring_data.annotate.samplers import Completion, Sampler, base, register_sampler

    monkeypatch.setattr(base, "_SAMPLERS", dict(base._SAMPLERS))

    @register_sampler("texts-only")
    class TextsOnly(Sampler):
        def __init__(self, target, settings=None):
            pass

        def sample(self, prompts, n):
            return [[f"{p.id}-{i}" for i in range(n)] for p in prompts]

    @register_sampler("full")
    class Full(Sampler):
        def __init__(self, target, settings=None):
            pass

        def sample_completions(self, prompts, n):
            return [[Completion(p.id, 1, True)] * n for p in prompts]

    rows = prompts(EASY[:2])
    assert make_sampler("texts-only:x").sample_completions(rows, 2) == [
        [Completion("easy0-0"), Completion("easy0-1")],
        [Completion("easy1-0"), Completion("easy1-1")],
    ]
    assert make_sampler("full:x").sample(rows, 2) == [["easy0", "easy0"], ["easy1", "easy1"]]
    with pytest.raises(TypeError, match="must implement sample\\(\\) or sample_completions\\(\\)"):
        register_sampler("neither")(type("Neither", (Sampler,), {}))


def test_a_sampler_registered_from_user_code_is_picked_by_its_spec(tmp_path, monkeypatch):
    """A sampler is one registered class: ``@register_sampler("kind")`` makes ``kind:target`` a spec of
    ``make_sampler``, of ``annotate`` and of the ``--sampler`` option (its batch-size default too)."""
    from ring_data.annotate import AnnotateConfig, Sampler, annotate, register_sampler
    from ring_data.annotate.samplers import base, sampler_class, sampler_kinds

    monkeypatch.setattr(base, "_SAMPLERS", dict(base._SAMPLERS))  # the test's sampler leaves with it
    seen = []

    @register_sampler("echo")
    class EchoSampler(Sampler):
        """Answers every prompt with ``target`` in a box, as often as asked."""

        def __init__(self, target, settings=None, *, model_label=None):
            self.answer, self.model = target, model_label or "echo"

        @classmethod
        def default_batch_size(cls, options):
            return 2

        def sample(self, prompts, n):
            seen.append([p.as_text() for p in prompts])
            return [[f"\\boxed{{{self.answer}}}"] * n for _ in prompts]

    assert "echo" in sampler_kinds() and sampler_class("echo:1").default_batch_size({}) == 2
    assert make_sampler("echo:7").sample(prompts(EASY[:1]), 2) == [["\\boxed{7}", "\\boxed{7}"]]
    rows = [{"id": "a", "domain": "math", "prompt": "What is 3 + 4?", "reference": {"answer": "7"}}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = annotate(tmp_path / "in.jsonl", tmp_path / "out.jsonl", "echo:7", config=AnnotateConfig(n=3))
    assert result.kept == 1 and result.stats["sampler"] == "echo:7"
    assert seen[-1] == [
        "What is 3 + 4?\nPlease reason step by step, and put your final answer within \\boxed{}."
    ]
    with pytest.raises(ValueError, match="already registered"):
        register_sampler("echo")(type("Other", (EchoSampler,), {}))


def test_bad_sampler_specs():
    for spec in ("nope:x", "hf", "openai:", "samples"):
        with pytest.raises(UserError, match="--sampler must be one of"):
            make_sampler(spec)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.live
@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
def test_hf_sampler_on_gpu_live(model_dir):
    sampler = make_sampler(f"hf:{model_dir}", SamplingSettings(max_tokens=12), dtype="float32")
    assert sampler.device == "cuda"
    out = sampler.sample(prompts(EASY), 8)
    assert all(x.count(f"\\boxed{{{2 * i + 1}}}") >= 6 for i, x in enumerate(out)), out


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_vllm_sampling_params_are_valid_for_vllm(temperature):
    vllm = pytest.importorskip("vllm", reason="the dev install puts vllm's wheel (API classes) here")
    from ring_data.annotate.samplers.vllm import sampling_params

    params = sampling_params(vllm, SamplingSettings(temperature=temperature, max_tokens=12), 8)
    assert isinstance(params, vllm.SamplingParams)  # validated by vLLM on construction
    assert (params.n, params.max_tokens) == (8 if temperature else 1, 12)


def test_vllm_completions_from_vllms_own_output_classes():
    """What ``VLLMSampler.sample_completions`` makes of ``LLM.chat``/``generate``'s outputs, built with
    vLLM's own ``RequestOutput``/``CompletionOutput``: index order, the stopping token (end-of-sequence,
    or a stop token id) not counted, ``finish_reason == "length"`` as the cut, greedy's one response n
    times; and the per-problem ``SamplingParams`` it sends."""
    vllm = pytest.importorskip("vllm", reason="the dev install puts vllm's wheel (API classes) here")
    from vllm import SamplingParams
    from vllm.outputs import CompletionOutput, RequestOutput

    from ring_data.annotate.samplers.base import Completion
    from ring_data.annotate.samplers.vllm import VLLMSampler, completions_from_outputs, sampling_params
    from ring_data.annotate.seeding import row_seed

    def request(*completions):
        outputs = [
            CompletionOutput(
                index=i,
                text=t,
                token_ids=ids,
                cumulative_logprob=None,
                logprobs=None,
                finish_reason=r,
                stop_reason=stop,
            )
            for i, t, ids, r, stop in completions
        ]
        return RequestOutput(
            request_id="0",
            prompt=None,
            prompt_token_ids=[5, 6],
            prompt_logprobs=None,
            outputs=outputs,
            finished=True,
        )

    eos, im_end = 2, 9
    sampled = request(
        (1, "cut", [7, 7, 7, 7], "length", None),
        (0, "done", [7, 8, eos], "stop", None),  # vLLM keeps the end-of-sequence token
        (2, "chat end", [8, im_end], "stop", im_end),  # a stop token id from the generation config
    )
    greedy = request((0, "only", [7, 7], "stop", None))  # already without its end token: nothing removed
    assert completions_from_outputs([sampled, greedy], 3, eos) == [
        [Completion("done", 2, False), Completion("cut", 4, True), Completion("chat end", 1, False)],
        [Completion("only", 2, False)] * 3,
    ]

    sampler = VLLMSampler.__new__(VLLMSampler)  # no engine: params() builds vLLM's own SamplingParams
    sampler._vllm, sampler.settings = vllm, SamplingSettings(max_tokens=12, seed=3)
    rows = prompts(COIN)
    params = sampler.params(4, rows)
    assert all(isinstance(p, SamplingParams) for p in params)
    assert [p.seed for p in params] == [row_seed(3, r.id) for r in rows]
    assert params[0].n == 4 and params[0].max_tokens == 12
    assert sampling_params(vllm, SamplingSettings(temperature=0), 4).n == 1  # greedy: once, repeated


def test_vllm_sampler_without_vllm_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # what an environment without the package sees
    with pytest.raises(UserError, match="needs the vllm package") as err:
        make_sampler(f"vllm:{tmp_path}")
    assert "\n" not in str(err.value)


@pytest.mark.live
@pytest.mark.gpu
@pytest.mark.usefixtures("vllm_on_gpu")
def test_vllm_sampler_live(model_dir):
    sampler = make_sampler(f"vllm:{model_dir}", SamplingSettings(max_tokens=12), gpu_memory_utilization=0.3)
    out = sampler.sample(prompts(EASY + COIN), 8)
    assert [len(x) for x in out] == [8] * 5 and all(isinstance(t, str) for x in out for t in x)
    full = sampler.sample_completions(prompts(EASY + COIN), 8)
    assert [len(x) for x in full] == [8] * 5
    # the end-of-sequence token is not counted, so only a response cut by max_tokens reaches 12
    assert all(c.truncated == (c.tokens == 12) for x in full for c in x)
    # vLLM loads the tokenizer its own way (as the model family's tokenizer), so no learned answers here


def test_server_module_runs_as_its_own_process(model_dir):
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ring_data.annotate.server",
            model_dir,
            "--port",
            str(port),
            "--model-name",
            "sub",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert "serving" in proc.stdout.readline()
        sampler = make_sampler(
            f"openai:http://127.0.0.1:{port}", SamplingSettings(temperature=0, max_tokens=12)
        )
        assert sampler.model == "sub"
        assert sampler.sample(prompts(EASY[:1]), 2) == [["\\boxed{1}", "\\boxed{1}"]]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class RefusesLongPrompts(OpenAIHandler):
    """Like a vLLM server refusing a prompt longer than the context: HTTP 400 for that request only."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if b"LONG" in body:
            return self._error(400, "This model's maximum context length is 32 tokens")
        import io

        self.rfile = io.BytesIO(body)
        super().do_POST()


def test_openai_prompt_refused_by_the_server_rejects_that_row_only(model_dir, tmp_path):
    from ring_data.annotate import AnnotateConfig, annotate

    rows = [{**r, "reference": {"answer": "1"}} for r in EASY[:2]]
    rows.append({"id": "long", "domain": "math", "prompt": "LONG " * 50, "reference": {"answer": "1"}})
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with OpenAICompatServer(model_dir, handler=RefusesLongPrompts) as srv:
        sampler = make_sampler(
            f"openai:{srv.url}", SamplingSettings(max_tokens=8), model_name="tiny", retries=2
        )
        stats = annotate(src, tmp_path / "o.jsonl", sampler, config=AnnotateConfig(n=2))
    assert stats.kept == 2 and stats.rejected_by_reason == {"no_samples": 1}
    assert sampler.requests_sent == 2 + 1  # a 400 is not retried
    (reject,) = [json.loads(x) for x in (tmp_path / "o.rejects.jsonl").read_text().splitlines()]
    assert (
        reject["id"] == "long"
        and "HTTP 400: This model's maximum context length" in reject["evidence"]["error"]
    )
