"""Seeds per problem: a problem's samples depend on the run's seed and the problem's id only, not on
which problems share its batch, the order they come in, a resumed run skipping some, or which worker
(``--engine ray``) draws them. The same seed the ``openai:`` sampler sends with each request."""

from __future__ import annotations

import zlib
from collections.abc import Sequence


def row_seed(seed: int, prompt_id: str) -> int:
    """The seed of one problem's samples (31 bits: every engine accepts it)."""
    return (seed * 1_000_003 + zlib.crc32(prompt_id.encode("utf-8"))) % 2**31


def row_seeded_sampling(seeds: Sequence[int], n: int, temperature: float, top_p: float):
    """A transformers ``LogitsProcessor`` for ``generate`` with ``do_sample=False``, the batch being
    ``len(seeds)`` prompts x ``n`` sequences (prompt-major, as ``num_return_sequences`` lays them out):
    each prompt draws its sequences' next tokens from its own generator (temperature, then top-p, as
    ``do_sample=True`` would) and leaves only the drawn token, which greedy decoding then takes."""
    import torch
    from transformers import LogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    class RowSeeded(LogitsProcessor):
        def __init__(self) -> None:
            self.generators = [torch.Generator().manual_seed(s) for s in seeds]
            self.warpers = [TemperatureLogitsWarper(temperature)]
            if top_p < 1.0:
                self.warpers.append(TopPLogitsWarper(top_p))

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            for warp in self.warpers:
                scores = warp(input_ids, scores)
            probs = torch.softmax(scores.float(), dim=-1).cpu()
            # n uniforms per prompt from its own generator; 1 - u is in (0, 1], so a token of zero
            # probability is never drawn
            u = 1.0 - torch.cat([torch.rand(n, generator=g, dtype=torch.float64) for g in self.generators])
            cdf = probs.double().cumsum(-1)
            token = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1)).clamp(max=probs.shape[-1] - 1)
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(1, token.to(scores.device), 0.0)

    return RowSeeded()
