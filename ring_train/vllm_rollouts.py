"""In-process vLLM rollouts for the embedded backend (``rollout.engine: vllm``; GPU boxes with vllm).

The engine runs in this process next to the policy (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), so after each
optimizer step the policy's tensors are handed to vLLM's own ``load_weights`` by reference: no file,
no copy beyond the cast into the engine's dtype. Prompts go in and responses come out as token ids
(the engine never loads or applies a tokenizer: ``skip_tokenizer_init``), so what the policy trains
on is exactly what the engine sampled. With ``sleep`` the engine frees its GPU memory while the policy
trains (level 2: the weights are not kept, the next push restores them).

The pieces that touch vLLM's API (engine arguments, sampling parameters, reading its outputs) are
functions of their own: CI checks them against vLLM's real classes on a CPU box; the engine itself
needs a GPU and has a live test.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ring_data.errors import UserError

from .engine import SamplingSettings, SeparateEngine
from .rollout import Rollout


def import_vllm():
    """vllm, imported with its engine in this process (set before the first import; a vllm imported
    earlier with multiprocessing still works, the weights then travel pickled)."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    try:
        import vllm
    except ImportError as e:
        raise UserError(
            f"rollout.engine vllm needs the vllm package on a CUDA machine (pip install vllm); it is not "
            f"importable here ({e.msg}). Use rollout.engine: hf."
        ) from None
    return vllm


def engine_kwargs(model_path: str, cfg: Any, *, seed: int) -> dict[str, Any]:
    """Arguments of ``vllm.LLM`` for a rollout engine of the policy at ``model_path`` (``cfg``: the
    run's ``config.VLLMConfig``)."""
    kwargs: dict[str, Any] = {
        "model": str(model_path),
        "seed": seed,
        "dtype": cfg.dtype,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "enforce_eager": cfg.enforce_eager,
        "enable_sleep_mode": cfg.sleep,
        "skip_tokenizer_init": True,  # token ids in, token ids out
        "enable_prefix_caching": True,  # the K samples of a group share their prompt's KV blocks
        # log-probs of the raw logits, the quantity the trainer's forward computes (temperature aside)
        "logprobs_mode": "raw_logprobs",
    }
    if cfg.max_model_len is not None:
        kwargs["max_model_len"] = cfg.max_model_len
    return kwargs


def sampling_params(
    vllm, k: int, *, max_new_tokens: int, eos_id: int, temperature: float, top_p: float
) -> Any:
    """K samples per prompt, stopping at the policy's EOS (which stays in the response, as in the hf
    engine). ``temperature`` 0 is greedy, which vLLM runs once per prompt (``n`` 1): its K samples are
    that one response, repeated by :func:`rollout_from_outputs`."""
    return vllm.SamplingParams(
        n=k if temperature > 0 else 1,
        temperature=max(0.0, temperature),
        top_p=top_p,
        max_tokens=max_new_tokens,
        stop_token_ids=[eos_id],
        logprobs=0,  # the sampled token's log-prob only: the trainer's importance weights need it
        detokenize=False,
        skip_special_tokens=False,
    )


def rollout_from_outputs(
    prompt_ids: Sequence[Sequence[int]], outputs: Sequence[Any], k: int, eos_id: int
) -> Rollout:
    """vLLM ``RequestOutput`` per prompt (in prompt order) -> a group-major :class:`Rollout` of ``k``
    responses per prompt (a request that returned one completion, greedy, gives it ``k`` times). A
    response that stopped at EOS ends with it (vLLM may leave the stop token out; it is put back), so
    lengths and the trained tokens are the same as with the hf engine."""
    if len(outputs) != len(prompt_ids):
        raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompt_ids)} prompts")
    responses: list[list[int]] = []
    finished: list[bool] = []
    logps: list[list[float]] = []
    for out in outputs:
        completions = sorted(out.outputs, key=lambda c: c.index)
        if len(completions) == 1:
            completions = completions * k
        if len(completions) != k:
            raise RuntimeError(f"vLLM returned {len(completions)} samples for a prompt, expected {k}")
        for c in completions:
            ids = list(c.token_ids)
            lp = _sampled_logprobs(c)
            stopped = c.finish_reason == "stop"
            if stopped and (not ids or ids[-1] != eos_id):
                ids.append(eos_id)
                lp.append(math.nan)
            responses.append(ids)
            finished.append(stopped)
            logps.append(lp)
    return Rollout.of_groups(prompt_ids, responses, finished, k, sampler_logps=logps)


def _sampled_logprobs(c: Any) -> list[float]:
    """Log-prob vLLM gave each sampled token (NaN where it gave none)."""
    if c.logprobs is None:
        return [math.nan] * len(c.token_ids)
    out = []
    for tok, position in zip(c.token_ids, c.logprobs):
        entry = position.get(tok) if position else None
        out.append(entry.logprob if entry is not None else math.nan)
    return out + [math.nan] * (len(c.token_ids) - len(out))


def policy_weights(model: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(HF checkpoint name, tensor) of every saved tensor: the names vLLM's ``load_weights`` maps onto
    its fused layers (q/k/v -> qkv_proj, gate/up -> gate_up_proj)."""
    for name, tensor in model.state_dict().items():
        yield name, tensor.detach()


def check_available() -> Any:
    """vllm, importable and with a CUDA GPU to run on; otherwise a one-line error."""
    vllm = import_vllm()
    if not torch.cuda.is_available():
        raise UserError("rollout.engine vllm needs a CUDA GPU; torch sees none (use rollout.engine: hf)")
    return vllm


class VLLMRollouts(SeparateEngine):
    """A vLLM engine that samples for the policy and follows its weights (``rollout.engine: vllm``)."""

    def __init__(self, model_path: str, cfg: Any, *, seed: int):  # cfg: config.VLLMConfig
        super().__init__()
        self.vllm = check_available()
        self.cfg = cfg
        self.llm = self.vllm.LLM(**engine_kwargs(model_path, cfg, seed=seed))
        self.asleep = False

    def push_weights(self, model: torch.nn.Module) -> None:
        """Load the policy's current weights into the engine (and drop KV blocks cached under the old ones)."""
        if self.asleep:
            self.llm.wake_up(tags=["weights"])
        weights = list(policy_weights(model))
        self.llm.apply_model(lambda m: m.load_weights(iter(weights)))
        if self.asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self.asleep = False
        self.llm.reset_prefix_cache()

    def generate(
        self, prompt_ids: list[list[int]], k: int, settings: SamplingSettings, generator=None
    ) -> Rollout:
        """K samples per prompt from the weights last pushed (``generator`` does not apply: vLLM seeds
        its own sampler)."""
        if self.asleep:
            raise RuntimeError("the vLLM engine is asleep: push_weights() wakes it with the current policy")
        params = sampling_params(
            self.vllm,
            k,
            max_new_tokens=settings.max_new_tokens,
            eos_id=settings.eos_id,
            temperature=settings.temperature,
            top_p=settings.top_p,
        )
        prompts = [self.vllm.TokensPrompt(prompt_token_ids=list(p)) for p in prompt_ids]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return rollout_from_outputs(prompt_ids, outputs, k, settings.eos_id)

    def sleep(self) -> None:
        """Free the engine's GPU memory until the next push (only with ``sleep: true``)."""
        if self.cfg.sleep and not self.asleep:
            self.llm.sleep(level=2)
            self.asleep = True

    def close(self) -> None:
        self.llm = None
