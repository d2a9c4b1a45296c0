"""Session-wide test setup.

vLLM's API classes (``SamplingParams``, ``EngineArgs``, ``RequestOutput`` ...) are what the vLLM code
paths are checked against on CPU. The dev install puts vLLM's wheel, without its GPU stack, in a folder
of its own (``.venv/vllm-api``) rather than in site-packages: libraries that switch on when vllm is
importable (TRL's GRPO trainer, in ``benchmarks/train.py``) then keep behaving as on any CPU machine,
and only the test session sees it, appended last to ``sys.path`` so it shadows nothing.
"""

import sys
from pathlib import Path

import pytest

VLLM_API = Path(sys.prefix) / "vllm-api"
if VLLM_API.is_dir() and str(VLLM_API) not in sys.path:
    sys.path.append(str(VLLM_API))


@pytest.fixture(scope="session")
def vllm_on_gpu():
    """Skips a test unless a CUDA GPU and vLLM's full install (its engine, not only the API classes
    the dev install provides) are here."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    try:
        import vllm.entrypoints.llm  # noqa: F401
    except Exception:  # an API-only install fails here in several ways
        pytest.skip("needs vllm's full install on the GPU machine (pip install '.[train,vllm]')")
