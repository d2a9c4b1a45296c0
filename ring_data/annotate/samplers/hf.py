"""``hf:PATH``: a local transformers causal LM, batched ``generate`` with the KV cache (CPU or GPU)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ring_data.errors import UserError

from ..seeding import row_seed, row_seeded_sampling
from .base import Completion, Prompt, Sampler, SamplingSettings, register_sampler

log = logging.getLogger(__name__)


def load_tokenizer(path: str | Path):
    """The model's tokenizer. A directory whose ``tokenizer_config.json`` names ``PreTrainedTokenizerFast``
    holds a plain ``tokenizers`` tokenizer: load it as such, because AutoTokenizer would rebuild it as
    the model family's tokenizer with a different pre-tokenizer (and different ids)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = Path(path) / "tokenizer_config.json"
    cls = AutoTokenizer
    if config.is_file():
        try:
            if json.loads(config.read_text()).get("tokenizer_class") == "PreTrainedTokenizerFast":
                cls = PreTrainedTokenizerFast
        except (OSError, json.JSONDecodeError):
            pass
    return cls.from_pretrained(str(path))


def read_chat_template(settings: SamplingSettings) -> str | None:
    """The template file's text when ``chat_template`` is a path; None for ``auto``/``none``."""
    if settings.chat_template in ("auto", "none"):
        return None
    try:
        return Path(settings.chat_template).read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"--chat-template {settings.chat_template}: cannot read: {e.strerror}") from None


@register_sampler("hf")
class HFSampler(Sampler):
    """Batched sampling with ``model.generate``: ``batch_size`` sequences (prompts x n) per call,
    left padding, fp32 on CPU and bf16 on GPU unless ``dtype`` says otherwise."""

    def __init__(
        self,
        path: str,
        settings: SamplingSettings | None = None,
        *,
        batch_size: int = 64,
        device: str | None = None,
        dtype: str = "auto",
        model_label: str | None = None,
    ):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads
        import torch
        from transformers import AutoModelForCausalLM

        if not Path(path).exists():
            raise UserError(f"hf:{path}: no such model directory")
        self.settings = settings or SamplingSettings()
        self.batch_size = max(1, batch_size)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype, None)
            if not isinstance(torch_dtype, torch.dtype):
                raise UserError(f"--dtype must be a torch dtype such as float32 or bfloat16, got {dtype!r}")
        self.tokenizer = load_tokenizer(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        template = read_chat_template(self.settings)
        if template is not None:
            self.tokenizer.chat_template = template
        self.use_chat = self.settings.chat_template != "none" and bool(self.tokenizer.chat_template)
        self.lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(self.device).eval()
        self.model = model_label or Path(path).name
        self.cpu_bound = self.device == "cpu"
        self._seeded = False

    def render(self, prompt: Prompt) -> str:
        """The text fed to the model: the chat template applied, or the raw contents."""
        if self.use_chat:
            return self.tokenizer.apply_chat_template(
                list(prompt.messages), tokenize=False, add_generation_prompt=True
            )
        return prompt.as_text()

    @classmethod
    def default_batch_size(cls, options) -> int:
        return 16  # problems per call; ``batch_size`` sequences per generate call

    def sample_completions(self, prompts: Sequence[Prompt], n: int) -> list[list[Completion]]:
        seed = self.settings.seed  # per problem: its samples do not depend on the rest of the batch
        seeds = None if seed is None else [row_seed(seed, p.id) for p in prompts]
        return self.generate_completions([self.render(p) for p in prompts], n, self.settings, seeds)

    def generate_completions(
        self, texts: Sequence[str], n: int, settings: SamplingSettings, seeds: Sequence[int] | None = None
    ) -> list[list[Completion]]:
        """``n`` completions for each rendered text (also used by the loopback OpenAI server); with
        ``seeds`` (one per text) each text's samples come from its own random stream. A completion's
        tokens are those before the first end-of-sequence token; without one it was cut at
        ``max_tokens`` (``generate`` stops a sequence only there or at end-of-sequence)."""
        import torch

        if seeds is None and settings.seed is not None and not self._seeded:  # seed once per run
            torch.manual_seed(settings.seed)
            self._seeded = True
        per_call = max(1, self.batch_size // max(1, n))
        eos = self.tokenizer.eos_token_id
        # similar lengths share a generate call, so little of each batch is padding
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[Completion]] = [[] for _ in texts]
        for start in range(0, len(order), per_call):
            idx = order[start : start + per_call]
            chunk = [texts[i] for i in idx]
            enc = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(self.device) for k, v in enc.items()}
            greedy = settings.temperature <= 0
            k = 1 if greedy else n  # greedy decoding gives one answer; it is repeated n times below
            kwargs = dict(
                max_new_tokens=settings.max_tokens,
                num_return_sequences=k,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=eos,
            )
            if greedy:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            elif seeds is not None:  # each text's n copies drawn from its own stream; greedy takes the draw
                enc = {key: v.repeat_interleave(n, dim=0) for key, v in enc.items()}
                draw = row_seeded_sampling([seeds[i] for i in idx], n, settings.temperature, settings.top_p)
                kwargs.update(
                    num_return_sequences=1, do_sample=False, temperature=None, top_p=None, top_k=None
                )
                kwargs["logits_processor"] = [draw]
            else:
                kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
            with torch.inference_mode():
                seqs = self.lm.generate(**enc, **kwargs)
            new = seqs[:, enc["input_ids"].shape[1] :]
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            done = [_completion(text, ids, eos) for text, ids in zip(decoded, new.tolist())]
            if greedy:
                done = [c for c in done for _ in range(n)]
            for j, i in enumerate(idx):
                out[i] = done[j * n : (j + 1) * n]
        return out


def _completion(text: str, ids: list[int], eos: int | None) -> Completion:
    """The decoded text (the whole row, padding skipped as special tokens, as annotate always decoded it)
    with the count of tokens before end-of-sequence; no end-of-sequence: cut at ``max_tokens``."""
    end = ids.index(eos) if eos is not None and eos in ids else None
    return Completion(text, len(ids) if end is None else end, end is None)
