"""``vllm:PATH``: in-process vLLM (GPU). Import-guarded: without the ``vllm`` package this sampler says so
in one line and the others keep working."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ring_data.errors import UserError

from ..seeding import row_seed
from .base import Completion, Prompt, Sampler, SamplingSettings, register_sampler
from .hf import read_chat_template


def import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise UserError(
            f"--sampler vllm:... needs the vllm package (GPU machines: pip install vllm); it is not importable "
            f"here ({e.msg}). Use hf:PATH, or openai:URL against a running `vllm serve`."
        ) from None
    return vllm


def sampling_params(vllm, settings: SamplingSettings, n: int, seed: int | None = None):
    """``n`` samples per prompt (from ``seed``, the prompt's own, when given); greedy (temperature 0)
    runs once per prompt, since vLLM rejects ``n`` > 1 there, and :func:`completions_from_outputs`
    repeats that response."""
    return vllm.SamplingParams(
        n=n if settings.temperature > 0 else 1,
        temperature=max(0.0, settings.temperature),
        top_p=settings.top_p,
        max_tokens=settings.max_tokens,
        seed=seed,
    )


@register_sampler("vllm")
class VLLMSampler(Sampler):
    """All prompts of a batch go to ``LLM.chat`` (or ``LLM.generate`` without a chat template) in one call;
    vLLM schedules them with continuous batching. Extra ``engine_args`` go to ``vllm.LLM``."""

    def __init__(
        self,
        path: str,
        settings: SamplingSettings | None = None,
        *,
        model_label: str | None = None,
        **engine_args: Any,
    ):
        vllm = import_vllm()
        self.settings = settings or SamplingSettings()
        self.model = model_label or Path(path).name
        self._template = read_chat_template(self.settings)
        engine_args.setdefault("seed", self.settings.seed if self.settings.seed is not None else 0)
        self.llm = vllm.LLM(model=path, **engine_args)
        self._vllm = vllm
        self.use_chat = self.settings.chat_template != "none" and (
            self._template is not None or bool(getattr(self.llm.get_tokenizer(), "chat_template", None))
        )

    def params(self, n: int, prompts: Sequence[Prompt] | None = None):
        """The SamplingParams: with ``prompts``, one per prompt seeded per problem (the batch then does
        not change a problem's samples)."""
        seed = self.settings.seed
        if prompts is None:
            return sampling_params(self._vllm, self.settings, n)
        return [
            sampling_params(self._vllm, self.settings, n, None if seed is None else row_seed(seed, p.id))
            for p in prompts
        ]

    def sample_completions(self, prompts: Sequence[Prompt], n: int) -> list[list[Completion]]:
        if self.use_chat:
            outputs = self.llm.chat(
                [list(p.messages) for p in prompts],
                self.params(n, prompts),
                chat_template=self._template,
                add_generation_prompt=True,
                use_tqdm=False,
            )
        else:
            outputs = self.llm.generate(
                [p.as_text() for p in prompts], self.params(n, prompts), use_tqdm=False
            )
        return completions_from_outputs(outputs, n, self.llm.get_tokenizer().eos_token_id)

    def close(self) -> None:
        self.llm = None


def completions_from_outputs(outputs: Sequence[Any], n: int, eos_id: int | None) -> list[list[Completion]]:
    """vLLM ``RequestOutput`` per prompt -> its completions in index order (greedy: the one response
    ``n`` times). ``finish_reason == "length"`` is a cut at ``max_tokens``. vLLM keeps the token that
    stopped a response (end-of-sequence, or a stop token id given as ``stop_reason``) in ``token_ids``:
    it is not counted, as with ``hf:``."""
    result = []
    for out in outputs:
        group = []
        for c in sorted(out.outputs, key=lambda c: c.index):
            tokens = len(c.token_ids)
            stop_ids = {eos_id, c.stop_reason if isinstance(c.stop_reason, int) else None} - {None}
            if c.finish_reason == "stop" and tokens and c.token_ids[-1] in stop_ids:
                tokens -= 1
            group.append(Completion(c.text, tokens, c.finish_reason == "length"))
        result.append(group * n if len(group) == 1 else group)
    return result
