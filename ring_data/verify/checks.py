"""Is one row usable for RL? Domain known, reference checkable by its verifier (``verifiers.check_reference``:
math parses, MC letter among the choices, sudoku unique, countdown reachable, code solutions pass every
test in the sandbox, ...), the reference actually exercised (code tests with no solution to run them
against are unverified), and candidate answers agreeing with the reference. Never raises on a row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ring_data.rows import CURATION_FIELDS


def is_known_domain(domain: str) -> bool:
    """A domain ``verifiers`` can check (built-in or registered, and importable)."""
    from verifiers import get_verifier

    try:
        get_verifier(domain)
    except (ValueError, ImportError):
        return False
    return True


@dataclass(frozen=True)
class RowVerdict:
    ok: bool
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    unverified: bool = False  # kept although nothing checked the reference (``keep_unverified``)


@dataclass
class CheckConfig:
    quorum: float = 0.5  # kept when agreeing candidates / all candidates > quorum (strict majority)
    check_options: dict[str, Any] = field(default_factory=dict)  # passed to verifiers.check_reference
    keep_unverified: bool = False  # keep references no program checked instead of rejecting them


def unverified_because(reference: Any, domain: str) -> str | None:
    """Why a reference that passed ``check_reference`` was never exercised, or None.

    Code tests without a reference solution are only parsed: nothing shows that any program passes them
    (a wrong expected output makes every response's reward 0), so they are not verified."""
    if domain == "code" and isinstance(reference, dict) and reference.get("solutions") is None:
        return "no solution to run the tests against"
    return None


def as_response(candidate: str, domain: str) -> str:
    """A candidate answer as a response the domain's verifier can read (in its registered answer
    format: ``\\boxed{..}``, ``<answer>..</answer>`` or as it is)."""
    from verifiers import domain_info

    return domain_info(domain).as_response(candidate)


def check_row(row: dict[str, Any], config: CheckConfig | None = None) -> RowVerdict:
    config = config or CheckConfig()
    domain, reference = row.get("domain"), row.get("reference")
    if not isinstance(domain, str) or not is_known_domain(domain):
        return RowVerdict(False, "unknown_domain", {"domain": domain})
    try:
        verdict = _reference_check(reference, domain, config)
        if verdict.ok:
            verdict = _unverified_check(reference, domain, verdict, config)
        if verdict.ok and isinstance(reference, dict) and "candidates" in reference:
            verdict = check_candidates(reference, domain, quorum=config.quorum)
    except Exception as e:  # a checker bug or a pathological reference must not stop the run
        return RowVerdict(False, "invalid_reference", {"error": f"{type(e).__name__}: {e}"[:500]})
    return verdict


def _reference_check(reference: Any, domain: str, config: CheckConfig) -> RowVerdict:
    from verifiers import check_reference

    if reference is None:
        return RowVerdict(False, "invalid_reference", {"error": "row has no reference"})
    res = check_reference(reference, domain, **config.check_options)
    if res.ok:
        return RowVerdict(True, "", dict(res.evidence or {}))
    return RowVerdict(False, res.reason or "invalid_reference", dict(res.evidence or {}))


def _unverified_check(reference: Any, domain: str, verdict: RowVerdict, config: CheckConfig) -> RowVerdict:
    why = unverified_because(reference, domain)
    if why is None:
        return verdict
    evidence = {"error": why, **verdict.evidence}
    if config.keep_unverified:
        return RowVerdict(True, "", evidence, unverified=True)
    return RowVerdict(False, "unverified_reference", evidence)


def check_candidates(reference: dict[str, Any], domain: str, *, quorum: float = 0.5) -> RowVerdict:
    """Kept when more than ``quorum`` of the candidates are equivalent to ``answer`` under the domain's
    verifier (``1/2`` agrees with ``0.5``). On disagreement the evidence names the largest group of
    mutually equivalent candidates, which is often the right answer when the reference is wrong."""
    from verifiers import verify_batch

    candidates = reference.get("candidates")
    if not isinstance(candidates, list) or not candidates or not all(isinstance(c, str) for c in candidates):
        return RowVerdict(
            False, "invalid_reference", {"error": "candidates must be a non-empty list of strings"}
        )
    answer_ref = {k: v for k, v in reference.items() if k not in CURATION_FIELDS}
    results = verify_batch([(as_response(c, domain), answer_ref, domain) for c in candidates], workers=1)
    agree = [r.correct for r in results]
    share = sum(agree) / len(candidates)
    evidence: dict[str, Any] = {"agree": sum(agree), "total": len(candidates), "quorum": quorum}
    if share > quorum:
        return RowVerdict(True, "", evidence)
    evidence["disagreeing"] = [c for c, ok in zip(candidates, agree) if not ok][:5]
    others = [c for c, ok in zip(candidates, agree) if not ok]
    group = largest_equivalent_group(others, answer_ref, domain) if "answer" in answer_ref else []
    if group:
        evidence["majority_candidate"], evidence["majority_count"] = group[0], len(group)
    return RowVerdict(False, "no_agreement", evidence)


def largest_equivalent_group(candidates: list[str], reference: dict[str, Any], domain: str) -> list[str]:
    """Group candidates by verifier equivalence to each group's first member; return the largest group."""
    from verifiers import verify

    groups: list[list[str]] = []
    for c in candidates:
        for g in groups:
            if verify(as_response(c, domain), {**reference, "answer": g[0]}, domain).correct:
                g.append(c)
                break
        else:
            groups.append([c])
    return max(groups, key=len) if groups else []
