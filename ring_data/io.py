"""Read and write problem rows in JSONL (optionally gzipped), Parquet and Hugging Face ``datasets``
directories (``Dataset.save_to_disk``), streaming, with a column mapping for foreign schemas.

Every row goes through :func:`ring_data.rows.normalize_row`, so ids are stable content hashes when the
input has none. Bad input raises :class:`BadInputError` naming file, line (or Parquet row) and field,
or, with ``on_bad_row="reject"``, lands in ``bad_rows`` as a reject with reason ``bad_row``.

Parquet has no type for "any JSON value", and ``reference``/``meta`` differ in shape from row to row,
so the writer stores object-valued columns as JSON text and lists them in the file's key-value
metadata (``ring.json_columns``); the reader decodes exactly those columns. Parquet files from other
tools (struct/list columns) are read as they are.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BadInputError, UserError
from .rows import is_normal, normalize_row

try:  # orjson is 5-10x faster on the hot path; the stdlib gives identical results
    import orjson

    loads = orjson.loads  # the parser every reader here uses (bytes or str -> value)

    def dumps(obj: Any) -> bytes:
        """Encode one JSON value as UTF-8 (the encoder every row writer here uses)."""
        return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)

    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
except ImportError:  # orjson is in the data extra; the stdlib path must give the same errors

    def loads(raw: bytes | str) -> Any:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)

    def dumps(obj: Any) -> bytes:
        """Encode one JSON value as UTF-8 (the encoder every row writer here uses)."""
        return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")

    _JSONError = (json.JSONDecodeError, UnicodeDecodeError)

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSON_COLUMNS_KEY = b"ring.json_columns"
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
HF_JSON_COLUMNS_FILE = "ring_json_columns.json"
_BATCH = 8192


# ---- formats ---------------------------------------------------------------------------------------
def detect_format(path: str | Path, *, for_writing: bool = False) -> str:
    """``jsonl``, ``parquet`` or ``hf`` (a ``datasets`` directory) from the path."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(JSON_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if path.is_dir() and any((path / m).exists() for m in HF_MARKERS):
        return "hf"
    if for_writing and not path.suffix:
        return "hf"
    raise UserError(
        f"{path}: unknown format (expected .jsonl, .json, .jsonl.gz, .parquet or a datasets.save_to_disk directory)"
    )


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files to read, in order. A directory that is not a ``datasets`` directory expands to its
    JSONL/Parquet files (sorted); a glob pattern expands to its matches."""
    if isinstance(paths, str | Path):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if any(ch in str(p) for ch in "*?["):
            matches = sorted(Path(p.anchor or ".").glob(str(p.relative_to(p.anchor)) if p.anchor else str(p)))
            if not matches:
                raise UserError(f"{p}: no file matches this pattern")
            out.extend(matches)
        elif p.is_dir() and not any((p / m).exists() for m in HF_MARKERS):
            found = sorted(
                f
                for f in p.iterdir()
                if f.is_file() and f.name.lower().endswith(JSON_SUFFIXES + PARQUET_SUFFIXES)
            )
            if not found:
                raise UserError(
                    f"{p}: directory holds no .jsonl/.parquet file and is not a datasets directory"
                )
            out.extend(found)
        elif not p.exists():
            raise BadInputError(p, "no such file or directory")
        else:
            out.append(p)
    return out


# ---- byte ranges of JSONL files (parallel readers) -------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """The lines of a plain (uncompressed) JSONL file that start at a byte offset in ``[start, end)``;
    ``end=None`` reads to the end. Several processes can read disjoint segments of one file and
    together see every line exactly once, with the right line numbers in their errors."""

    path: Path
    start: int = 0
    end: int | None = None

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None


def splittable(path: Path) -> bool:
    """Can ``path`` be read in byte ranges? Plain JSONL only (not gzip, not a JSON array)."""
    name = path.name.lower()
    if not name.endswith((".jsonl", ".ndjson", ".json")) or not path.is_file():
        return False
    with path.open("rb") as fh:
        return not fh.read(256).lstrip().startswith(b"[")


def split_segments(
    paths: list[Path], parts: int, min_bytes: int, head_start: int = 0
) -> list[list[Segment | Path]]:
    """Cut the byte stream of ``paths`` (in order) into at most ``parts`` contiguous shards, each at
    least ``min_bytes``: the first ``head_start`` bytes bigger than the others (it is read by a
    process that need not start up), the rest of equal size. Splittable files may be cut inside;
    other files (gzip, Parquet, datasets dirs) go whole to one shard. Order is kept: concatenating the
    shards' rows gives the rows of reading ``paths`` one after another."""
    sizes = [_size(p) for p in paths]
    total = sum(sizes)
    parts = max(1, min(parts, total // max(min_bytes, 1)))
    if parts < 2:
        return [list(paths)]
    head_start = min(head_start, total // 2)
    share = (total - head_start) / parts
    cuts = [head_start + share * (i + 1) for i in range(parts - 1)]  # global byte offsets
    shards: list[list[Segment | Path]] = [[]]
    offset = 0  # global offset of the current file's first byte
    for path, size in zip(paths, sizes):
        if not splittable(path):
            shards[-1].append(path)
            offset += size
            while cuts and cuts[0] <= offset:  # a cut inside a file that cannot be split: at its end
                cuts.pop(0)
                shards.append([])
            continue
        start = 0
        while start < size:
            end = size
            if cuts and offset + size > cuts[0]:
                end = max(start + 1, int(cuts.pop(0)) - offset)
            shards[-1].append(Segment(path, start, None if end >= size else end))
            start = end
            if end < size or (cuts and cuts[0] <= offset + size):
                shards.append([])
                if end >= size:
                    cuts.pop(0)
        offset += size
    return [s for s in shards if s]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


# ---- column mapping ---------------------------------------------------------------------------------
def parse_mapping(spec: str | None) -> dict[str, str]:
    """``"question=prompt,answer=reference.answer"`` -> ``{"question": "prompt", "answer": "reference.answer"}``:
    input column (dotted for nested) -> row field (dotted for nested)."""
    mapping: dict[str, str] = {}
    if not spec:
        return mapping
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        src, sep, dst = part.partition("=")
        src, dst = src.strip(), dst.strip()
        if not sep or not src or not dst:
            raise UserError(f"--map: expected SOURCE=FIELD pairs separated by commas, got {part!r}")
        if src in mapping:
            raise UserError(f"--map: column {src!r} is mapped twice")
        mapping[src] = dst
    return mapping


_MISSING = object()


def _pop_path(obj: dict[str, Any], dotted: str) -> Any:
    parts = dotted.split(".")
    cur: Any = obj
    for p in parts[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return _MISSING
        cur = cur[p]
    if not isinstance(cur, dict) or parts[-1] not in cur:
        return _MISSING
    return cur.pop(parts[-1])


def _set_path(obj: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = obj
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            # a plain-string reference becomes {"answer": ...} when a sub-field is mapped into it
            nxt = {} if nxt is None else {"answer": nxt} if p == "reference" else {"value": nxt}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def apply_mapping(
    obj: Any, mapping: dict[str, str], *, path: str | Path = "<rows>", line: int | None = None
) -> Any:
    """Move input columns to row fields. A source column that is missing is an error naming it when it
    feeds a required field (``prompt``/``domain``); otherwise it is skipped."""
    if not mapping or not isinstance(obj, dict):
        return obj
    obj = dict(obj)
    moved = []
    for src, dst in mapping.items():
        value = _pop_path(obj, src)
        if value is _MISSING:
            if dst in ("prompt", "domain") and dst not in obj:
                raise BadInputError(path, f"missing column (mapped to '{dst}')", line=line, field=src)
            continue
        moved.append((dst, value))
    for dst, value in moved:
        _set_path(obj, dst, value)
    return obj


# ---- reading ---------------------------------------------------------------------------------------
def read_rows(
    paths: str | Path | Segment | Iterable[str | Path | Segment],
    *,
    mapping: dict[str, str] | None = None,
    on_bad_row: str = "raise",
    bad_rows: list[dict[str, Any]] | None = None,
    defaults: dict[str, Any] | None = None,
    with_raw: bool = False,
) -> Iterator[dict[str, Any]]:
    """Stream validated rows from one or more files (format from each path).

    ``mapping`` renames input columns (see :func:`parse_mapping`); ``defaults`` fills fields the input
    lacks (e.g. ``{"domain": "math"}``). ``on_bad_row="reject"`` sends unreadable rows to ``bad_rows``
    (reason ``bad_row``, evidence = the one-line error) instead of raising. A :class:`Segment` reads
    only its byte range of a JSONL file. ``with_raw=True`` yields ``(row, line)`` pairs, ``line``
    being the input's JSON line when the row is exactly that line's object (no mapping, defaults or
    filled-in fields; a writer can copy it instead of encoding the row again), else ``None``.
    """
    if on_bad_row not in ("raise", "reject"):
        raise UserError(f"on_bad_row must be 'raise' or 'reject', got {on_bad_row!r}")
    if isinstance(paths, str | Path | Segment):
        paths = [paths]
    for item in paths:
        for path in [item] if isinstance(item, Segment) else expand_paths(item):
            yield from _read_one(path, mapping, on_bad_row, bad_rows, defaults, with_raw)


def read_json_lines(path: str | Path, *, skip_bad: bool = False) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of a JSONL(.gz) file that is not problem rows
    (a ``samples:`` file, a resumable journal), with the parser and errors of :func:`read_rows`: a
    line that is not JSON raises :class:`BadInputError` naming it, or is skipped with ``skip_bad``
    (a journal's torn last line). A missing file with ``skip_bad`` reads as empty."""
    path = Path(path)
    if skip_bad and not path.is_file():
        return
    for lineno, obj, _raw, err in _jsonl_records(path):
        if err is None:
            yield lineno, obj
        elif not skip_bad:
            raise err


def _read_one(
    item: Path | Segment,
    mapping: dict[str, str] | None,
    on_bad_row: str,
    bad_rows: list[dict[str, Any]] | None,
    defaults: dict[str, Any] | None,
    with_raw: bool = False,
) -> Iterator[Any]:
    if isinstance(item, Segment):
        path, records = item.path, _jsonl_records(item.path, item.start, item.end)
        partial = not item.whole
    else:
        path, partial = item, False
        fmt = detect_format(path)
        records = {"jsonl": _jsonl_records, "parquet": _parquet_records, "hf": _hf_records}[fmt](path)
    source = path.name
    seen = 0
    for where, obj, raw, err in records:
        seen += 1
        if err is None:
            try:
                unchanged = isinstance(raw, bytes) and not mapping
                if mapping:
                    obj = apply_mapping(obj, mapping, path=path, line=where)
                if defaults and isinstance(obj, dict):
                    missing = {k: v for k, v in defaults.items() if obj.get(k) is None}
                    if missing:
                        obj, unchanged = {**missing, **obj}, False
                unchanged = unchanged and isinstance(obj, dict) and is_normal(obj)
                # the decoded object is ours: fill it in place (no copy per row)
                row = normalize_row(obj, path=path, line=where, default_source=source, copy=False)
            except BadInputError as e:
                err = e
            else:
                if with_raw:
                    yield row, (raw if raw.endswith(b"\n") else raw + b"\n") if unchanged else None
                else:
                    yield row
                continue
            raw = None
        if on_bad_row == "raise":
            raise err
        if bad_rows is not None:
            bad_rows.append(
                {
                    "raw": raw if raw is not None else _safe_text(obj),
                    "source": source,
                    "reason": "bad_row",
                    "evidence": {"error": str(err), "file": str(path), "line": where, "field": err.field},
                }
            )
    if seen == 0 and not partial:  # a byte range may hold only the tail of a long line
        raise BadInputError(path, "empty file: no rows")


def _safe_text(obj: Any) -> str:
    try:
        return dumps(obj).decode("utf-8")
    except Exception:
        return repr(obj)


Record = tuple[int, Any, bytes | str | None, BadInputError | None]  # raw: the line, or its text on errors


def _jsonl_records(path: Path, start: int = 0, end: int | None = None) -> Iterator[Record]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        fh = opener(path, "rb")
        head = fh.peek(64)[:64] if hasattr(fh, "peek") else b""
    except OSError as e:
        raise BadInputError(path, f"cannot open: {e.strerror or e}") from None
    with fh:
        if path.name.lower().endswith((".json", ".json.gz")) and head.lstrip().startswith(b"["):
            yield from _json_array_records(path, fh.read())
            return
        first_line = 1
        if start:  # the first line that starts at or after `start`, numbered as in the whole file
            fh.seek(start - 1)
            fh.readline()
            first_line = _count_newlines(path, fh.tell()) + 1
        pos, stop = fh.tell(), float("inf") if end is None else end
        parse = loads
        try:
            for lineno, raw in enumerate(fh, start=first_line):
                if pos >= stop:
                    break
                pos += len(raw)
                try:
                    yield lineno, parse(raw), raw, None
                except _JSONError as e:
                    if not raw.strip():  # blank lines are allowed (and rare: parse first)
                        continue
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError:
                        msg = "not valid UTF-8"
                    else:
                        msg = f"malformed JSON ({getattr(e, 'msg', str(e)).split(':')[0]})"
                    yield (
                        lineno,
                        None,
                        raw.decode("utf-8", "replace").rstrip("\n"),
                        BadInputError(path, msg, line=lineno),
                    )
        except (OSError, EOFError) as e:  # truncated gzip
            raise BadInputError(path, f"cannot read: {e}") from None


def _count_newlines(path: Path, upto: int, chunk: int = 1 << 24) -> int:
    n = 0
    with path.open("rb") as fh:
        while upto > 0:
            block = fh.read(min(chunk, upto))
            if not block:
                break
            n += block.count(b"\n")
            upto -= len(block)
    return n


def _json_array_records(path: Path, data: bytes) -> Iterator[Record]:
    try:
        items = loads(data)
    except _JSONError as e:
        raise BadInputError(path, f"malformed JSON array ({e})") from None
    for i, obj in enumerate(items, start=1):
        yield i, obj, None, None


def _parquet_records(path: Path) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise BadInputError(path, f"not a readable Parquet file ({e})") from None
    meta = pf.schema_arrow.metadata or {}
    json_cols = set(json.loads(meta[JSON_COLUMNS_KEY])) if JSON_COLUMNS_KEY in meta else set()
    row = 0
    for batch in pf.iter_batches(batch_size=_BATCH):
        cols = {name: batch.column(i).to_pylist() for i, name in enumerate(batch.schema.names)}
        for j in range(batch.num_rows):
            row += 1
            obj = {}
            for name, values in cols.items():
                v = values[j]
                if name in json_cols and isinstance(v, str):
                    v = json.loads(v)
                obj[name] = v
            yield row, obj, None, None


def _hf_records(path: Path) -> Iterator[Record]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:
        raise BadInputError(path, f"not a readable datasets directory ({e})") from None
    side = path / HF_JSON_COLUMNS_FILE
    json_cols = set(json.loads(side.read_text())) if side.exists() else set()
    splits = ds.items() if isinstance(ds, datasets.DatasetDict) else [(None, ds)]
    row = 0
    for _split, d in splits:
        for batch in d.iter(batch_size=_BATCH):
            names = list(batch)
            n = len(batch[names[0]]) if names else 0
            for j in range(n):
                row += 1
                obj = {k: batch[k][j] for k in names}
                for k in json_cols & obj.keys():
                    if isinstance(obj[k], str):
                        obj[k] = json.loads(obj[k])
                yield row, obj, None, None


# ---- writing ---------------------------------------------------------------------------------------
class RowWriter:
    """Stream rows to ``path`` (format from the suffix; a path without suffix is a ``datasets``
    directory). Use as a context manager; ``count`` is the number of rows written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = detect_format(self.path, for_writing=True)
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl":
            self._fh = (gzip.open if self.path.name.endswith(".gz") else open)(self.path, "wb")
        else:
            # Parquet needs one schema for the whole file: spool JSONL, learn the columns, convert at close.
            self._tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in close()
                "wb", suffix=".jsonl", dir=self.path.parent, prefix=f".{self.path.name}.", delete=False
            )
            self._fh = self._tmp
            self._kinds: dict[str, set[str]] = {}

    def write(self, row: dict[str, Any]) -> None:
        self._fh.write(dumps(row) + b"\n")
        if self.format != "jsonl":
            for k, v in row.items():
                self._kinds.setdefault(k, set()).add(_kind(v))
        self.count += 1

    def write_raw_lines(self, lines: list[bytes]) -> None:
        """Many rows that are already JSON lines, each ending in a newline (JSONL outputs only)."""
        if self.format != "jsonl":
            raise ValueError("write_raw_lines needs a JSONL output")
        self._fh.write(b"".join(lines))
        self.count += len(lines)

    def write_many(self, rows: Iterable[dict[str, Any]]) -> int:
        for row in rows:
            self.write(row)
        return self.count

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.close()
        if self.format == "jsonl":
            return
        tmp = Path(self._tmp.name)
        try:
            if self.format == "parquet":
                _spool_to_parquet(tmp, self.path, self._kinds)
            else:
                _spool_to_hf(tmp, self.path, self._kinds)
        finally:
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def write_rows(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows (format from the suffix); returns the count."""
    with RowWriter(path) as w:
        w.write_many(rows)
    return w.count


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    return "json"


def _column_plan(kinds: dict[str, set[str]]):
    """Arrow type per column; mixed or object-valued columns become JSON text."""
    import pyarrow as pa

    plan = {}
    for name, ks in kinds.items():
        ks = ks - {"null"}
        if ks <= {"str"}:
            plan[name] = (pa.string(), False)
        elif ks == {"bool"}:
            plan[name] = (pa.bool_(), False)
        elif ks == {"int"}:
            plan[name] = (pa.int64(), False)
        elif ks <= {"int", "float"}:
            plan[name] = (pa.float64(), False)
        else:
            plan[name] = (pa.string(), True)
    return plan


def _spool_batches(tmp: Path, plan):
    import pyarrow as pa

    names = list(plan)
    schema = pa.schema([(n, plan[n][0]) for n in names])
    json_cols = [n for n in names if plan[n][1]]
    schema = schema.with_metadata({JSON_COLUMNS_KEY: json.dumps(json_cols).encode()})

    def batches():
        cols: dict[str, list] = {n: [] for n in names}
        with tmp.open("rb") as fh:
            for raw in fh:
                row = loads(raw)
                for n in names:
                    v = row.get(n)
                    if plan[n][1] and v is not None:
                        v = dumps(v).decode("utf-8")
                    cols[n].append(v)
                if len(cols[names[0]]) >= _BATCH:
                    yield pa.record_batch([pa.array(cols[n], type=plan[n][0]) for n in names], schema=schema)
                    cols = {n: [] for n in names}
        if names and cols[names[0]]:
            yield pa.record_batch([pa.array(cols[n], type=plan[n][0]) for n in names], schema=schema)

    return schema, batches()


def _spool_to_parquet(tmp: Path, path: Path, kinds) -> None:
    import pyarrow.parquet as pq

    schema, batches = _spool_batches(tmp, _column_plan(kinds))
    part = path.with_name(f".{path.name}.part")
    with pq.ParquetWriter(part, schema) as writer:
        for b in batches:
            writer.write_batch(b)
    part.replace(path)


def _spool_to_hf(tmp: Path, path: Path, kinds) -> None:
    import datasets
    import pyarrow as pa

    plan = _column_plan(kinds)
    schema, batches = _spool_batches(tmp, plan)
    table = pa.Table.from_batches(list(batches), schema=schema)
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        datasets.Dataset(table).save_to_disk(str(path))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
    # datasets drops Arrow schema metadata, so the JSON-column list rides in a side file
    (path / HF_JSON_COLUMNS_FILE).write_text(json.dumps([n for n in plan if plan[n][1]]))
