"""What a clean filter is and how a set of them runs (the registry of ``ring_data.clean.filters``).

A filter is a pure check ``(prompt, reference, settings) -> evidence or None`` registered under a name
with :func:`register_filter`; a row failing it is rejected with reason ``filter_<name>`` and the
evidence (what matched). It applies to every domain (``domains=None``), or to the domains it names
plus every domain whose ``verifiers.DomainInfo.filters`` lists it (so a built-in filter that only some
domains want passes ``domains=()`` and the domains opt in). An optional ``prefilter`` is a polars
expression that flags the rows the check may fail (exact or a superset; it runs vectorised in Rust
over a whole batch, so the Python check only sees the flagged rows). ``order`` decides which filter
names a row that fails several (cheap and general ones first).
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from verifiers import domain_infos, reference_answer

from ...errors import UserError

Evidence = dict[str, Any] | None
Verdict = tuple[str, dict[str, Any]] | None  # (reason, evidence) of the first filter a row fails


@dataclass
class Settings:
    """What the filters accept; everything has a CLI option."""

    max_prompt_chars: int = 8000
    min_prompt_chars: int = 10
    scripts: tuple[str, ...] = ("LATIN", "CJK", "GREEK")  # letters of other scripts must stay a minority
    languages: tuple[str, ...] = ()  # with langdetect: keep only these ISO codes (slow; off by default)


Check = Callable[[str, Any, Settings], Evidence]
Prefilter = Callable[..., Any]  # (prompt: pl.Expr, answer: pl.Expr, settings) -> pl.Expr of bool


@dataclass(frozen=True)
class Filter:
    name: str
    check: Check
    domains: tuple[str, ...] | None = None  # None: every domain
    prefilter: Prefilter | None = None
    order: int = 100

    def source_hash(self) -> str:
        """A hash of the code of the check and its prefilter (the modules that define them): part of
        the ingest fingerprint, so a resumed run never keeps verdicts of older filter code."""
        h = hashlib.sha256()
        for fn in (self.check, self.prefilter):
            if fn is not None:
                source = inspect.getsourcefile(fn)
                h.update(Path(source).read_bytes() if source else fn.__qualname__.encode())
        return h.hexdigest()[:16]


_FILTERS: dict[str, Filter] = {}


def register_filter(
    name: str,
    *,
    domains: tuple[str, ...] | None = None,
    prefilter: Prefilter | None = None,
    order: int = 100,
    override: bool = False,
) -> Callable[[Check], Check]:
    """Register the decorated ``check(prompt, reference, settings) -> evidence or None`` as filter
    ``name`` (rejects with ``filter_<name>``; on by default, ``--no-filter name`` switches it off)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"filter name must be snake_case, got {name!r}")

    def add(check: Check) -> Check:
        if name in _FILTERS and _FILTERS[name].check is not check and not override:
            raise ValueError(f"filter {name!r} is already registered (pass override=True to replace it)")
        _FILTERS[name] = Filter(name, check, None if domains is None else tuple(domains), prefilter, order)
        return check

    return add


def registered() -> list[Filter]:
    """Every registered filter, in the order they run."""
    return sorted(_FILTERS.values(), key=lambda f: f.order)  # stable: equal orders by registration


def filter_names() -> tuple[str, ...]:
    return tuple(f.name for f in registered())


def contains_any(text: str, needles: tuple[str, ...]) -> bool:
    """Does the lower-cased ``text`` contain one of ``needles``? A cheap gate before a regex, which is
    20x slower than a few ``in`` tests on a typical prompt."""
    low = text.lower()
    return any(n in low for n in needles)


def any_of_regex(needles: tuple[str, ...]) -> str:
    """The gate of :func:`contains_any` as a case-insensitive regex (for a prefilter)."""
    return "(?i)" + "|".join(re.escape(n) for n in needles)


@dataclass
class FilterSet:
    """The filters of one run (``enabled``: names, None = every registered filter), with the domains
    each applies to resolved once from the domain registry: the set is pickled to the ingest worker
    processes, which import no verifier and may not know the domains a user registered."""

    enabled: tuple[str, ...] | None = None
    settings: Settings = field(default_factory=Settings)
    plan: tuple[tuple[Filter, frozenset[str] | None], ...] = field(init=False)

    def __post_init__(self) -> None:
        known = filter_names()
        unknown = [n for n in self.enabled or () if n not in known]
        if unknown:
            raise UserError(f"unknown filter {unknown[0]!r} (known: {', '.join(known)})")
        opted: dict[str, set[str]] = {}
        for domain, info in domain_infos().items():
            for name in info.filters:
                opted.setdefault(name, set()).add(domain)
        self.plan = tuple(
            (f, None if f.domains is None else frozenset(f.domains) | opted.get(f.name, set()))
            for f in registered()
            if self.enabled is None or f.name in self.enabled
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f, _ in self.plan)

    def fingerprint(self, domains: set[str] | None = None) -> list:
        """What the verdicts depend on: the filters, their code and the settings; with ``domains``
        (those of the rows) also which of them each filter applies to."""

        def scoped(scope: frozenset[str] | None) -> list[str] | None:
            return None if scope is None or domains is None else sorted(scope & domains)

        return [
            [[f.name, scoped(scope), f.source_hash()] for f, scope in self.plan],
            asdict(self.settings),
            _BASE_HASH,
        ]

    def first_failure(self, row: dict[str, Any]) -> Verdict:
        """``(reason, evidence)`` of the first filter the row fails, or None."""
        for f, scope in self.plan:
            if scope is not None and row["domain"] not in scope:
                continue
            ev = f.check(row["prompt"], row.get("reference"), self.settings)
            if ev is not None:
                return f"filter_{f.name}", ev
        return None

    def batch(self, rows: list[dict[str, Any]]) -> list[Verdict]:
        """:meth:`first_failure` for many rows: vectorised prefilters pick the rows each Python check
        must look at (same verdicts, ~20x less Python)."""
        import polars as pl

        verdicts: list[Verdict] = [None] * len(rows)
        if not rows or not self.plan:
            return verdicts
        frame = pl.DataFrame(
            {
                "prompt": pl.Series([r["prompt"] for r in rows], dtype=pl.String),
                "domain": pl.Series([r["domain"] for r in rows], dtype=pl.String),
                "answer": pl.Series([reference_answer(r.get("reference")) for r in rows], dtype=pl.String),
            }
        )
        exprs = []
        for f, scope in self.plan:
            mask = (
                pl.lit(True)
                if f.prefilter is None
                else f.prefilter(pl.col("prompt"), pl.col("answer"), self.settings)
            )
            if scope is not None:
                mask = mask & pl.col("domain").is_in(sorted(scope))
            exprs.append(mask.fill_null(False).alias(f.name))
        masks = frame.lazy().select(exprs).collect(engine="streaming")  # all prefilters in one parallel pass
        for f, _ in self.plan:
            for i in masks[f.name].arg_true().to_list():
                if verdicts[i] is None:
                    ev = f.check(rows[i]["prompt"], rows[i].get("reference"), self.settings)
                    if ev is not None:
                        verdicts[i] = (f"filter_{f.name}", ev)
        return verdicts


_BASE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
