"""What a ``ring-data clean`` run is asked to do (:class:`CleanConfig`), and what it reads from the domain
and filter registries, resolved once (:class:`DomainRules`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verifiers import domain_infos

from . import minhash as mh
from .decontam.params import DecontamParams
from .filters import FilterSet, Settings


@dataclass
class CleanConfig:
    filters: tuple[str, ...] | None = None  # filter names to run; None: every registered filter
    filter_settings: Settings = field(default_factory=Settings)
    exact: bool = True
    near: bool = True
    near_params: mh.NearDupParams = field(default_factory=mh.NearDupParams)
    distinct_references: bool = True  # rows whose references differ are never duplicates (exact or near)
    decontam: bool = True
    builtin_benchmarks: tuple[str, ...] | None = None  # None: every shipped index; () none
    benchmark_files: tuple[str, ...] = ()
    decontam_params: DecontamParams = field(default_factory=DecontamParams)
    semantic: str | None = None  # "auto" (English MiniLM), "multilingual" (USE-m v3) or a model dir
    semantic_threshold: float | None = None  # None: the model's default (MiniLM 0.85, multilingual 0.80)
    mapping: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    on_bad_row: str = "raise"
    engine: str = "local"
    batch_rows: int = (
        20_000  # rows an ingest process holds at once (~2 KB each in flight); 50k: +0.4 GB, same speed
    )
    ingest_workers: int = 0  # processes reading big JSONL input in byte ranges; 0 = one per core (max 8)
    min_shard_mb: float = 16.0  # ... each taking at least this much input (a worker costs ~0.4 s to start)
    # near dedup decides at most about this many rows at once (their tokens, features and signatures in
    # memory); more are split by their numbers' hash into parts spilled to files (same decisions)
    shard_rows: int = 2_000_000


@dataclass(frozen=True)
class DomainRules:
    """The domain knowledge a run needs, taken from the registries once in the parent process and
    handed to the ingest workers (which import no verifier and may not know a user's domains): the
    filters with the domains each applies to, and the domains whose text is compared verbatim."""

    filters: FilterSet
    verbatim: frozenset[str]

    @classmethod
    def resolve(cls, config: CleanConfig) -> DomainRules:
        verbatim = frozenset(name for name, info in domain_infos().items() if info.verbatim)
        return cls(FilterSet(config.filters, config.filter_settings), verbatim)

    def fingerprint(self, domains: set[str] | None = None) -> list:
        """The filters' code and settings; with ``domains`` (those of the rows) also what the rules say
        about those domains, and nothing about the registered domains the rows do not have."""
        if domains is None:
            return self.filters.fingerprint()
        return [self.filters.fingerprint(domains), sorted(self.verbatim & domains)]
