"""The problem row (docs/architecture.md §2): validation, stable ids, rejects, and a plain JSONL writer.

Every stage reads and writes these rows. Reading is :func:`ring_data.io.read_rows` (JSONL, Parquet,
``datasets`` directories, column mapping), which validates each row with :func:`normalize_row`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import BadInputError

REQUIRED_FIELDS = ("prompt", "domain")
# JSON nested deeper than this cannot be written back (orjson stops at 254 levels, the stdlib json at
# the recursion limit), so the readers reject such a row rather than let a later stage crash on it
MAX_NESTING = 200
# reference fields for curation only (the policy never sees them): reference programs that verify runs
# against the tests, and alternative answers that must agree with ``answer``
CURATION_FIELDS = ("solutions", "candidates")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same value always gives the same text. Values JSON
    has no type for (bytes, dates, decimals from another tool's Parquet) are written as their ``str``,
    as the row writer does."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_id(domain: str, prompt: str, reference: Any) -> str:
    """Stable id from content (sha256, 16 hex chars). Not polars' hash, which changes between versions."""
    h = hashlib.sha256(canonical_json([domain, prompt, reference]).encode("utf-8"))
    return h.hexdigest()[:16]


def normalize_row(
    obj: Any,
    *,
    path: str | Path = "<rows>",
    line: int | None = None,
    default_source: str | None = None,
    copy: bool = True,
) -> dict[str, Any]:
    """Check one decoded row and fill defaults (id, source, meta, reference). Raises BadInputError.
    ``copy=False`` fills ``obj`` itself (for a dict the caller has just decoded and owns)."""
    return checked_row(obj, path, line, default_source, copy)[0]


def checked_row(
    obj: Any, path: str | Path, line: int | None, default_source: str | None, copy: bool
) -> tuple[dict[str, Any], bool]:
    """:func:`normalize_row`, and whether the row was already normal (:func:`is_normal`: returned
    unchanged). The readers call this once per row: a row a Ring writer wrote passes one test."""
    normal = isinstance(obj, dict) and is_normal(obj)
    if (
        normal
        and type(obj.get("prompt")) is str
        and type(obj.get("domain")) is str
        and type(obj["meta"]) is dict
    ):
        return (dict(obj) if copy else obj), True  # nothing to check further or fill in
    return _normalized(obj, path, line, default_source, copy), normal


def _normalized(
    obj: Any, path: str | Path, line: int | None, default_source: str | None, copy: bool
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BadInputError(path, f"expected a JSON object, got {type(obj).__name__}", line=line)
    prompt, domain, meta, row_id = obj.get("prompt"), obj.get("domain"), obj.get("meta"), obj.get("id")
    if type(prompt) is not str or type(domain) is not str:  # the common case passes with one test
        for name in REQUIRED_FIELDS:
            value = obj.get(name)
            if value is None:
                raise BadInputError(path, "missing required field", line=line, field=name)
            if not isinstance(value, str):
                raise BadInputError(
                    path, f"must be a string, got {type(value).__name__}", line=line, field=name
                )
    if meta is not None and not isinstance(meta, dict):
        raise BadInputError(path, "must be an object", line=line, field="meta")
    if row_id is not None and (not isinstance(row_id, str | int) or isinstance(row_id, bool)):
        raise BadInputError(path, "must be a string", line=line, field="id")
    source = obj.get("source")
    if source and type(source) is not str and (not isinstance(source, int) or isinstance(source, bool)):
        raise BadInputError(path, f"must be a string, got {type(source).__name__}", line=line, field="source")
    row = dict(obj) if copy else obj
    if "reference" not in row:
        row["reference"] = None
    if row_id is None or row_id == "":
        try:
            row["id"] = content_id(domain, prompt, row["reference"])
        except RecursionError:  # the readers reject this earlier (nested_field); a direct caller may not
            raise BadInputError(path, f"nested more than {MAX_NESTING} levels deep", line=line) from None
        except UnicodeEncodeError:  # a lone surrogate (a "\\ud800" escape decoded by a lenient parser)
            raise BadInputError(path, "holds a lone surrogate, which is not text", line=line) from None
    elif type(row_id) is not str:
        row["id"] = str(row_id)
    if not source:
        row["source"] = default_source if default_source is not None else Path(str(path)).name
    elif type(source) is not str:
        row["source"] = str(source)
    if meta is None:
        row["meta"] = {}
    return row


_CONTAINERS = (dict, list, tuple)


def nested_field(row: dict[str, Any], limit: int = MAX_NESTING) -> str | None:
    """The first field of ``row`` whose lists/dicts nest more than ``limit`` levels, else None
    (level by level, no recursion). Readers call it only when a row has that many brackets at all."""
    for name, value in row.items():
        level, depth = [value] if isinstance(value, _CONTAINERS) else [], 0
        while level:
            depth += 1
            if depth > limit:
                return name
            level = [
                c for v in level for c in (v.values() if type(v) is dict else v) if isinstance(c, _CONTAINERS)
            ]
    return None


def is_normal(row: dict[str, Any]) -> bool:
    """Would :func:`normalize_row` return this valid row unchanged (all defaults already present)?"""
    row_id, source = row.get("id"), row.get("source")
    return (
        type(row_id) is str
        and row_id != ""
        and "reference" in row
        and type(source) is str
        and source != ""
        and row.get("meta") is not None
    )


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL (parent directories created); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def make_reject(row: dict[str, Any], reason: str, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    """A rejects-file entry: the row plus ``reason`` (snake_case code) and ``evidence``."""
    return {**row, "reason": reason, "evidence": evidence or {}}
