"""verl reward functions: ``compute_score`` (naive / reward-loop managers) and ``compute_score_batch``
(the batch manager), to name in verl's config:

    custom_reward_function.path=$(python -m verifiers.adapters.verl) custom_reward_function.name=compute_score
    # or, one verify_batch call per step:
    reward_model.reward_manager=batch custom_reward_function.name=compute_score_batch

verl calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`` per response
(``verl/workers/reward_manager/naive.py``) and ``compute_score(data_sources=, solution_strs=,
ground_truths=, extra_infos=, **reward_kwargs)`` once per batch (``batch.py``); ``reward_kwargs`` come
from ``custom_reward_function.reward_kwargs`` and may set ``timeout``, ``workers``, ``default_domain``,
``return_dict`` and ``sources`` (extra data_source -> domain entries).

The domain comes from ``extra_info["domain"]`` when the row has one, else from :data:`DATA_SOURCES`
(``openai/gsm8k`` and ``lighteval/MATH`` -> math, ``codecontests`` / ``apps`` / ``taco`` -> code, ...),
else from ``data_source`` itself when it names a verifiers domain, else ``default_domain``; none of
these is a ``ValueError`` (verl's own ``default_compute_score`` raises ``NotImplementedError`` there).
``ground_truth`` may be a bare answer (``"72"``), the project's reference JSON (``'{"answer": "72"}'``,
``'{"tests": [...]}'``), a dict, or verl's code format (``{"inputs": [...], "outputs": [...]}``, as a
dict or JSON). GSM8K's ``#### 72`` answer line counts as the answer for the ``openai/gsm8k`` source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from verifiers.adapters.common import parse_reference
from verifiers.api import DEFAULT_TIMEOUT_S, verify, verify_batch
from verifiers.registry import domains
from verifiers.result import VerifyResult


class Source(NamedTuple):
    """How a verl ``data_source`` is scored: the verifiers domain, options for it, and whether GSM8K's
    ``#### X`` line is an answer marker. (A NamedTuple, not a dataclass: verl loads this file by path,
    outside ``sys.modules``, where dataclasses cannot resolve their annotations.)"""

    domain: str
    options: tuple[tuple[str, Any], ...] = ()
    hash_answer: bool = False


_MATH = Source("math")
_CODE = Source("code")
DATA_SOURCES: dict[str, Source] = {
    "openai/gsm8k": Source("math", hash_answer=True),
    "gsm8k": Source("math", hash_answer=True),
    "lighteval/MATH": _MATH,
    "DigitalLearningGmbH/MATH-lighteval": _MATH,
    "HuggingFaceH4/MATH-500": _MATH,
    "math_dapo": _MATH,
    "math": _MATH,
    "aime2024": _MATH,
    "aime2025": _MATH,
    "numina_aops_forum": _MATH,
    "numina_synthetic_math": _MATH,
    "numina_amc_aime": _MATH,
    "numina_synthetic_amc": _MATH,
    "numina_cn_k12": _MATH,
    "numina_olympiads": _MATH,
    "codecontests": _CODE,
    "apps": _CODE,
    "codeforces": _CODE,
    "taco": _CODE,
    "livecodebench": _CODE,
    "google/IFEval": Source("ifeval"),
    "Idavidrein/gpqa": Source("science"),
}

_HASH_RE = re.compile(r"####\s*(-?[0-9][0-9.,]*)")


def resolve(
    data_source: Any,
    extra_info: Any = None,
    *,
    default_domain: str | None = None,
    sources: Mapping[str, Any] | None = None,
) -> Source:
    """The :class:`Source` for a row (see the module docstring for the order)."""
    if isinstance(extra_info, Mapping) and isinstance(extra_info.get("domain"), str):
        return Source(extra_info["domain"])
    name = str(data_source)
    table = {
        **DATA_SOURCES,
        **{k: (v if isinstance(v, Source) else Source(str(v))) for k, v in (sources or {}).items()},
    }
    if name in table:
        return table[name]
    if name in domains():
        return Source(name)
    if default_domain:
        return Source(default_domain)
    raise ValueError(
        f"verifiers: no domain for verl data_source {name!r}; add it with "
        "custom_reward_function.reward_kwargs.sources, set extra_info['domain'], or give default_domain"
    )


def prepare(solution_str: Any, source: Source) -> str:
    """The response as the verifier sees it (GSM8K: the last ``#### X`` becomes ``\\boxed{X}`` when
    nothing else marks an answer)."""
    text = solution_str if isinstance(solution_str, str) else str(solution_str or "")
    if source.hash_answer and "\\boxed" not in text:
        found = _HASH_RE.findall(text)
        if found:
            text = f"{text}\n\\boxed{{{found[-1].replace(',', '').rstrip('.')}}}"
    return text


def _item(data_source, solution_str, ground_truth, extra_info, default_domain, sources):
    src = resolve(data_source, extra_info, default_domain=default_domain, sources=sources)
    return (
        prepare(solution_str, src),
        parse_reference(ground_truth, src.domain),
        src.domain,
        dict(src.options),
    )


def _out(res: VerifyResult, return_dict: bool) -> float | dict[str, Any]:
    if not return_dict:
        return float(res.score)
    # verl appends every key to reward_extra_info: numbers only, the same keys for every response
    return {
        "score": float(res.score),
        "acc": 1.0 if res.correct else 0.0,
        "timeout": 1.0 if res.status == "timeout" else 0.0,
    }


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    default_domain: str | None = None,
    sources: Mapping[str, Any] | None = None,
    return_dict: bool = False,
    **_: Any,
) -> float | dict[str, Any]:
    """One response's reward (verl's ``compute_score`` signature). Bounded by ``timeout`` seconds from
    any thread, so verl's SIGALRM-based ``compute_score_timeout`` is not needed."""
    response, reference, domain, options = _item(
        data_source, solution_str, ground_truth, extra_info, default_domain, sources
    )
    return _out(verify(response, reference, domain, timeout=timeout, **options), return_dict)


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    workers: int | None = None,
    default_domain: str | None = None,
    sources: Mapping[str, Any] | None = None,
    return_dict: bool = False,
    **_: Any,
) -> list[float | dict[str, Any]]:
    """Every response of a step in one ``verify_batch`` call (verl's batch reward manager)."""
    extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    items = [
        _item(ds, s, gt, ex, default_domain, sources)
        for ds, s, gt, ex in zip(data_sources, solution_strs, ground_truths, extras)
    ]
    return [_out(r, return_dict) for r in verify_batch(items, workers=workers, timeout=timeout)]


def main() -> int:
    """``python -m verifiers.adapters.verl``: print this file's path (for ``custom_reward_function.path``)."""
    print(__file__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
