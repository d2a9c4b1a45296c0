"""The annotate samplers (``hf:``, ``vllm:``, ``openai:``, ``samples:``) with what an evaluation needs
besides the text: each response's length in tokens and whether it was cut at ``max_tokens``.

- ``hf:``: the same batched ``generate`` as :class:`~ring_data.annotate.samplers.hf.HFSampler`; a
  response is truncated when no end-of-sequence token was generated;
- ``vllm:``: vLLM's ``finish_reason == "length"`` and ``len(token_ids)``;
- ``openai:``: the server's ``finish_reason``; tokens counted with ``--tokenizer`` when given;
- ``samples:``: a JSONL of ``{"id", "benchmark"?, "responses", "lengths"?, "truncated"?}`` (what
  ``ring-train eval --save-samples`` writes; an annotate ``--save-samples`` file works too). Without
  ``lengths``, tokens are counted with ``--tokenizer`` when given; without ``truncated``, a response
  is truncated when its length reaches ``max_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ring_data.annotate.samplers import KINDS, Prompt, SamplingSettings
from ring_data.annotate.samplers.base import Sampler
from ring_data.errors import BadInputError, UserError


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int | None = None  # generated tokens (end-of-sequence not counted); None: unknown
    truncated: bool | None = None  # stopped by max_tokens; None: unknown


class DetailedSampler:
    """``sample(prompts, n) -> [[Completion]]`` over one of the annotate samplers."""

    def __init__(self, sampler: Sampler, settings: SamplingSettings, tokenizer: Any = None):
        self.sampler = sampler
        self.settings = settings
        self.tokenizer = tokenizer
        self.model = sampler.model

    def _count(self, text: str) -> int | None:
        if self.tokenizer is None:
            return None
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _complete(self, text: str, tokens: int | None = None, truncated: bool | None = None) -> Completion:
        if tokens is None:
            tokens = self._count(text)
        if truncated is None and tokens is not None:
            truncated = tokens >= self.settings.max_tokens
        return Completion(text, tokens, truncated)

    def sample(self, prompts: Sequence[Prompt], n: int, benchmark: str = "") -> list[list[Completion]]:
        return [[self._complete(t) for t in texts] for texts in self.sampler.sample(prompts, n)]

    def failure(self, prompt_id: str) -> str | None:
        return self.sampler.failure(prompt_id)

    def close(self) -> None:
        self.sampler.close()


class HFDetailed(DetailedSampler):
    """``hf:``: generation as HFSampler does it, keeping each response's token count and EOS."""

    def sample(self, prompts: Sequence[Prompt], n: int, benchmark: str = "") -> list[list[Completion]]:
        import torch

        s, hf = self.settings, self.sampler
        if s.seed is not None and not hf._seeded:
            torch.manual_seed(s.seed)
            hf._seeded = True
        texts = [hf.render(p) for p in prompts]
        tok = hf.tokenizer
        per_call = max(1, hf.batch_size // max(1, n))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[Completion]] = [[] for _ in texts]
        eos = tok.eos_token_id
        for start in range(0, len(order), per_call):
            idx = order[start : start + per_call]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(hf.device) for k, v in enc.items()}
            greedy = s.temperature <= 0
            kwargs: dict[str, Any] = dict(
                max_new_tokens=s.max_tokens,
                num_return_sequences=1 if greedy else n,
                pad_token_id=tok.pad_token_id,
                eos_token_id=eos,
            )
            if greedy:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            else:
                kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=0)
            with torch.inference_mode():
                seqs = hf.lm.generate(**enc, **kwargs)
            new = seqs[:, enc["input_ids"].shape[1] :].tolist()
            done = []
            for ids in new:
                end = ids.index(eos) if eos in ids else None
                body = ids[:end] if end is not None else ids
                text = tok.decode(body, skip_special_tokens=True)
                done.append(Completion(text, len(body), end is None))
            if greedy:
                done = [c for c in done for _ in range(n)]
            for j, i in enumerate(idx):
                out[i] = done[j * n : (j + 1) * n]
        return out


class VLLMDetailed(DetailedSampler):
    def sample(self, prompts: Sequence[Prompt], n: int, benchmark: str = "") -> list[list[Completion]]:
        v = self.sampler
        if v.use_chat:
            outputs = v.llm.chat(
                [list(p.messages) for p in prompts],
                v.params(n),
                chat_template=v._template,
                add_generation_prompt=True,
                use_tqdm=False,
            )
        else:
            outputs = v.llm.generate([p.as_text() for p in prompts], v.params(n), use_tqdm=False)
        res = []
        for out in outputs:
            cs = [
                Completion(c.text, len(c.token_ids), c.finish_reason == "length")
                for c in sorted(out.outputs, key=lambda c: c.index)
            ]
            res.append(cs * n if len(cs) == 1 else cs)
        return res


class OpenAIDetailed(DetailedSampler):
    """``openai:``: the choices' ``finish_reason`` ("length" = truncated)."""

    def sample(self, prompts: Sequence[Prompt], n: int, benchmark: str = "") -> list[list[Completion]]:
        return list(self.sampler._pool.map(lambda p: self._one(p, n), prompts))

    def _one(self, prompt: Prompt, n: int) -> list[Completion]:
        from ring_data.annotate.samplers.openai import PROMPT_ERRORS, RequestFailed

        o = self.sampler
        path = "/chat/completions" if o.api == "chat" else "/completions"
        got: list[Completion] = []
        for _ in range(n):
            body = o._body(prompt, n - len(got))
            if body.get("seed") is not None:
                body["seed"] += len(got)
            try:
                choices = o._request("POST", path, body).get("choices") or []
            except RequestFailed as e:
                if e.code not in PROMPT_ERRORS:
                    raise
                o._failures[prompt.id] = str(e)
                return []
            for c in choices:
                text = (c.get("message") or {}).get("content") if o.api == "chat" else c.get("text")
                reason = c.get("finish_reason")
                got.append(self._complete(text or "", None, None if reason is None else reason == "length"))
            if len(got) >= n or not choices:
                break
        return got[:n]


class SamplesDetailed(DetailedSampler):
    """``samples:FILE``: responses (and their lengths, truncation) looked up by benchmark and id."""

    def __init__(self, path: str, settings: SamplingSettings, tokenizer: Any = None):
        self.path, self.settings, self.tokenizer = Path(path), settings, tokenizer
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        labels: set[str] = set()
        try:
            fh = self.path.open("rb")
        except OSError as e:
            raise BadInputError(self.path, f"cannot open: {e.strerror}") from None
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise BadInputError(self.path, f"malformed JSON ({e})", line=lineno) from None
                if not isinstance(obj, dict) or obj.get("id") is None:
                    raise BadInputError(self.path, "missing required field", line=lineno, field="id")
                responses = obj.get("responses")
                if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
                    raise BadInputError(
                        self.path, "must be a list of strings", line=lineno, field="responses"
                    )
                for key in ("lengths", "truncated"):
                    if key in obj and (not isinstance(obj[key], list) or len(obj[key]) != len(responses)):
                        raise BadInputError(
                            self.path, "must be a list as long as 'responses'", line=lineno, field=key
                        )
                self.rows[(str(obj.get("benchmark") or ""), str(obj["id"]))] = obj
                if isinstance(obj.get("model"), str):
                    labels.add(obj["model"])
        self.model = labels.pop() if len(labels) == 1 else f"samples:{self.path.name}"

    def sample(self, prompts: Sequence[Prompt], n: int, benchmark: str = "") -> list[list[Completion]]:
        out = []
        for p in prompts:
            row = self.rows.get((benchmark, p.id)) or self.rows.get(("", p.id))
            if row is None:
                out.append([])
                continue
            lengths = row.get("lengths") or [None] * len(row["responses"])
            trunc = row.get("truncated") or [None] * len(row["responses"])
            out.append(
                [self._complete(t, ln, tr) for t, ln, tr in list(zip(row["responses"], lengths, trunc))[:n]]
            )
        return out

    def failure(self, prompt_id: str) -> str | None:
        return None

    def close(self) -> None:
        pass


def make_detailed_sampler(
    spec: str, settings: SamplingSettings, *, tokenizer_path: str | None = None, **options: Any
) -> DetailedSampler:
    """The sampler named by ``spec`` (``hf:PATH``, ``vllm:PATH``, ``openai:URL``, ``samples:FILE``)."""
    from ring_data.annotate.samplers import make_sampler

    kind, sep, target = spec.partition(":")
    if not sep or kind not in KINDS or not target:
        raise UserError(f"--sampler must be one of {', '.join(k + ':...' for k in KINDS)}; got {spec!r}")
    tokenizer = None
    if tokenizer_path:
        from ring_data.annotate.samplers.hf import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_path)
    if kind == "samples":
        return SamplesDetailed(target, settings, tokenizer)
    sampler = make_sampler(spec, settings, **options)
    if kind == "hf":
        return HFDetailed(sampler, settings)
    if kind == "vllm":
        return VLLMDetailed(sampler, settings)
    return OpenAIDetailed(sampler, settings, tokenizer)
