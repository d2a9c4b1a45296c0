"""The built-in rollout engines (``rollout.engine: hf | vllm``) and the lookup that sees them.

They live apart from the protocol in ``engine.py`` because each engine module imports the protocol's
types: registering them there would make the two import each other. An engine module is imported
only when its engine is chosen (vLLM imports only on GPU machines).
"""

from __future__ import annotations

from .engine import ENGINES, EngineEntry, EngineSpec, RolloutEngine, register_rollout_engine


def get_engine(name: str) -> EngineEntry:
    """The registered engine ``name`` (built-in or registered from user code)."""
    return ENGINES.get(name)


@register_rollout_engine("hf")
def _hf(spec: EngineSpec) -> RolloutEngine:
    from .hf_rollouts import HFRollouts

    return HFRollouts()


def _vllm_preflight() -> None:
    from .vllm_rollouts import check_available

    check_available()


@register_rollout_engine("vllm", needs_cuda=True, preflight=_vllm_preflight)
def _vllm(spec: EngineSpec) -> RolloutEngine:
    from .vllm_rollouts import VLLMRollouts

    return VLLMRollouts(spec.start, spec.rollout.vllm, seed=spec.seed)
