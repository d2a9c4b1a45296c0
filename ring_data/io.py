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
import os
import re
import shutil
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic, faults
from .errors import BadInputError, UserError
from .rows import MAX_NESTING, checked_row, nested_field

try:  # orjson is 5-10x faster on the hot path; the stdlib gives identical results
    import orjson

    loads = orjson.loads  # the parser every reader here uses (bytes or str -> value)

    def dumps(obj: Any) -> bytes:
        """Encode one JSON value as UTF-8 (the encoder every row writer here uses)."""
        return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)

    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
except ImportError:  # orjson is in the data extra; the stdlib path must give the same errors
    _SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")

    def _no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    def loads(raw: bytes | str) -> Any:
        """What orjson rejects, rejected the same way: NaN/Infinity, lone surrogates (``\\ud800``),
        integers of 4,300 digits or more, nesting past the recursion limit."""
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        try:
            value = json.loads(text, parse_constant=_no_constant)
            if _SURROGATE_ESCAPE.search(text):  # a lone surrogate is no text: it cannot be encoded
                json.dumps(value, ensure_ascii=False).encode("utf-8")
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as e:
            raise json.JSONDecodeError(f"{type(e).__name__}: {e}", text, 0) from None
        return value

    def dumps(obj: Any) -> bytes:
        """Encode one JSON value as UTF-8 (the encoder every row writer here uses)."""
        return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")

    _JSONError = (json.JSONDecodeError, UnicodeDecodeError)

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSON_COLUMNS_KEY = b"ring.json_columns"
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
HF_JSON_COLUMNS_FILE = "ring_json_columns.json"
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark (Notepad, PowerShell): no data
# what reading a file can raise besides bad rows: I/O errors, a truncated gzip (EOFError), corrupt
# deflate data (zlib.error, which is no OSError)
_UNREADABLE = (OSError, EOFError, zlib.error)
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
    # (inode, size, mtime_ns) of the file when it was split: a reader opening it later checks that it
    # still is that file, so shards never mix an old and a new version of an input
    stamp: tuple[int, int, int] | None = None

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None


def splittable(path: Path) -> bool:
    """Can ``path`` be read in byte ranges? Plain JSONL only (not gzip, not a JSON array)."""
    name = path.name.lower()
    if not name.endswith((".jsonl", ".ndjson", ".json")) or not path.is_file():
        return False
    with path.open("rb") as fh:
        return not fh.read(256).removeprefix(_BOM).lstrip().startswith(b"[")


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
        start, stamp = 0, file_stamp(os.stat(path))
        while start < size:
            end = size
            if cuts and offset + size > cuts[0]:
                end = max(start + 1, int(cuts.pop(0)) - offset)
            shards[-1].append(Segment(path, start, None if end >= size else end, stamp))
            start = end
            if end < size or (cuts and cuts[0] <= offset + size):
                shards.append([])
                if end >= size:
                    cuts.pop(0)
        offset += size
    return [s for s in shards if s]


def file_stamp(st: os.stat_result) -> tuple[int, int, int]:
    """What identifies one version of a file: inode, size, modification time."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


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


def read_json_lines(
    path: str | Path, *, skip_bad: bool = False, check_unchanged: bool = True
) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of a JSONL(.gz) file that is not problem rows
    (a ``samples:`` file, a resumable journal), with the parser and errors of :func:`read_rows`: a
    line that is not JSON raises :class:`BadInputError` naming it, or is skipped with ``skip_bad``.
    A missing file with ``skip_bad`` reads as empty. ``check_unchanged=False`` for a file this process
    appends to itself (a journal): others are inputs, which must not change while they are read."""
    path = Path(path)
    if skip_bad and not path.is_file():
        return
    for lineno, obj, _raw, err in _jsonl_records(path, check_unchanged=check_unchanged):
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
        path, records = item.path, _jsonl_records(item.path, item.start, item.end, stamp=item.stamp)
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
                unchanged = raw.__class__ is bytes and not mapping
                if mapping:
                    obj = apply_mapping(obj, mapping, path=path, line=where)
                if defaults and isinstance(obj, dict):
                    missing = {k: v for k, v in defaults.items() if obj.get(k) is None}
                    if missing:
                        obj, unchanged = {**missing, **obj}, False
                _check_nesting(obj, raw, path, where)
                # the decoded object is ours: fill it in place (no copy per row)
                row, normal = checked_row(obj, path, where, source, False)
                unchanged = unchanged and normal
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


def _check_nesting(obj: Any, raw: bytes | str | None, path: Path, line: int) -> None:
    """A row nested deeper than the writers can write is a bad row. A JSON line needs as many brackets
    as its depth, so only a line with that many is walked (one count in C per line)."""
    few_brackets = isinstance(raw, bytes) and raw.count(b"[") + raw.count(b"{") <= MAX_NESTING
    if few_brackets or not isinstance(obj, dict):
        return
    deep = nested_field(obj)
    if deep is not None:
        raise BadInputError(path, f"nested more than {MAX_NESTING} levels deep", line=line, field=deep)


def _safe_text(obj: Any) -> str:
    """The rejected row as text for the rejects file, whatever it holds."""
    try:
        return dumps(obj).decode("utf-8")
    except Exception:
        pass
    try:
        return repr(obj)
    except RecursionError:
        return f"<{type(obj).__name__} nested too deeply to show>"


Record = tuple[int, Any, bytes | str | None, BadInputError | None]  # raw: the line, or its text on errors


def _jsonl_records(
    path: Path,
    start: int = 0,
    end: int | None = None,
    *,
    stamp: tuple[int, int, int] | None = None,
    check_unchanged: bool = True,
) -> Iterator[Record]:
    """Records of a JSONL(.gz) file (or of the byte range ``[start, end)``). An input that changes
    while it is read (truncated, appended to, rewritten in place) stops the read with one error
    rather than yielding a torn or partial set of rows; one deleted or replaced by name is still
    read whole from the open file, a consistent snapshot. ``stamp``: the file must still be the
    version it was when it was split into ranges (:class:`Segment`)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        fh = opener(path, "rb")
        head = fh.peek(64)[:64] if hasattr(fh, "peek") else b""
    except _UNREADABLE as e:
        raise BadInputError(path, f"cannot open: {getattr(e, 'strerror', None) or e}") from None
    with fh:
        opened = os.fstat(fh.fileno())
        if stamp is not None and file_stamp(opened) != stamp:
            raise BadInputError(
                path, "changed after the command started reading it; rerun once it is complete"
            )

        def unchanged() -> None:
            if check_unchanged:
                _check_unchanged(path, fh.fileno(), opened)

        is_array = head.removeprefix(_BOM).lstrip().startswith(b"[")
        if path.name.lower().endswith((".json", ".json.gz")) and is_array:
            try:
                data = fh.read()
            except _UNREADABLE as e:
                raise BadInputError(path, f"cannot read: {e}") from None
            unchanged()
            yield from _json_array_records(path, data)
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
                if lineno == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                try:
                    yield lineno, parse(raw), raw, None
                except _JSONError as e:
                    if not raw.strip():  # blank lines are allowed (and rare: parse first)
                        continue
                    unchanged()  # a line torn by someone truncating the file is not bad input
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
        except _UNREADABLE as e:  # truncated or corrupt gzip
            unchanged()
            raise BadInputError(path, f"cannot read: {e}") from None
        unchanged()


def _check_unchanged(path: Path, fd: int, opened: os.stat_result) -> None:
    now = os.fstat(fd)
    if (now.st_size, now.st_mtime_ns) != (opened.st_size, opened.st_mtime_ns):
        raise BadInputError(
            path,
            f"changed while being read (size {opened.st_size} -> {now.st_size} bytes); "
            "rerun once it is complete",
        )


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
        items = loads(data.removeprefix(_BOM))
    except _JSONError as e:
        raise BadInputError(path, f"malformed JSON array ({e})") from None
    for i, obj in enumerate(items, start=1):
        yield i, obj, None, None


def _json_columns(text: bytes | str | None, path: Path, what: str) -> set[str]:
    """The columns a Ring writer stored as JSON text (a list of names), from ``what``."""
    if text is None:
        return set()
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadInputError(path, f"{what} is not a JSON list of column names")
    return set(names)


def _decode_json_cells(obj: dict[str, Any], json_cols: set[str], path: Path, row: int) -> Exception | None:
    """Decode the JSON-text cells of ``obj`` in place with the JSON lines' parser (the same values are
    accepted and rejected); the first cell that is no JSON is returned as the row's error."""
    for name in json_cols & obj.keys():
        text = obj[name]
        if isinstance(text, str):
            try:
                obj[name] = loads(text)
            except (*_JSONError, RecursionError) as e:
                why = getattr(e, "msg", str(e)).split(":")[0]
                return BadInputError(path, f"malformed JSON ({why})", line=row, field=name)
    return None


def _parquet_records(path: Path) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # a corrupt file raises ArrowInvalid, OSError or, for bytes that should be text, UnicodeDecodeError
    unreadable = (pa.ArrowException, OSError, ValueError)
    try:
        pf = pq.ParquetFile(path)
        meta = pf.schema_arrow.metadata or {}
    except unreadable as e:
        raise BadInputError(path, f"not a readable Parquet file ({e})") from None
    json_cols = _json_columns(meta.get(JSON_COLUMNS_KEY), path, f"metadata {JSON_COLUMNS_KEY.decode()}")
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=_BATCH):
            cols = {name: batch.column(i).to_pylist() for i, name in enumerate(batch.schema.names)}
            for j in range(batch.num_rows):
                row += 1
                obj = {name: values[j] for name, values in cols.items()}
                yield row, obj, None, _decode_json_cells(obj, json_cols, path, row)
    except unreadable as e:  # a corrupt page or column chunk
        raise BadInputError(path, f"cannot read the rows after row {row} ({e})") from None


def _hf_records(path: Path) -> Iterator[Record]:
    import datasets
    import pyarrow as pa

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:
        raise BadInputError(path, f"not a readable datasets directory ({e})") from None
    side = path / HF_JSON_COLUMNS_FILE
    json_cols = _json_columns(side.read_bytes() if side.exists() else None, side, "the file")
    splits = ds.items() if isinstance(ds, datasets.DatasetDict) else [(None, ds)]
    row = 0
    try:
        for _split, d in splits:
            for batch in d.iter(batch_size=_BATCH):
                names = list(batch)
                n = len(batch[names[0]]) if names else 0
                for j in range(n):
                    row += 1
                    obj = {k: batch[k][j] for k in names}
                    yield row, obj, None, _decode_json_cells(obj, json_cols, path, row)
    except (pa.ArrowException, OSError, ValueError) as e:  # a corrupt Arrow file in the directory
        raise BadInputError(path, f"cannot read the rows after row {row} ({e})") from None


# ---- writing ---------------------------------------------------------------------------------------
class RowWriter:
    """Stream rows to ``path`` (format from the suffix; a path without suffix is a ``datasets``
    directory). Use as a context manager; ``count`` is the number of rows written.

    The output is atomic (:mod:`ring_data.atomic`): rows go to a hidden ``.NAME.tmp`` (Parquet and
    ``datasets`` outputs spool JSONL to ``.NAME.spool.jsonl`` first) that replaces ``path`` when the
    writer closes. A writer left by an exception (:meth:`abort`) or a killed process never leaves a
    partial file under ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = detect_format(self.path, for_writing=True)
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl":
            self._tmp = atomic.temp_path(self.path)
            self._fh = (gzip.open if self.path.name.endswith(".gz") else open)(self._tmp, "wb")
        else:
            # Parquet needs one schema for the whole file: spool JSONL, learn the columns, convert at close.
            self._tmp = self.path.with_name(f".{self.path.name}.spool.jsonl")
            self._fh = self._tmp.open("wb")
            self._kinds: dict[str, set[str]] = {}

    def write(self, row: dict[str, Any]) -> None:
        faults.point("rows.write")
        self._fh.write(dumps(row) + b"\n")
        if self.format != "jsonl":
            for k, v in row.items():
                self._kinds.setdefault(k, set()).add(_kind(v))
        self.count += 1

    def write_raw_lines(self, lines: list[bytes]) -> None:
        """Many rows that are already JSON lines, each ending in a newline (JSONL outputs only)."""
        if self.format != "jsonl":
            raise ValueError("write_raw_lines needs a JSONL output")
        faults.point("rows.write")
        self._fh.write(b"".join(lines))
        self.count += len(lines)

    def write_many(self, rows: Iterable[dict[str, Any]]) -> int:
        for row in rows:
            self.write(row)
        return self.count

    def close(self) -> None:
        """Finish the file and put it in place of ``path``."""
        if self._fh.closed:
            return
        self._fh.close()
        if self.format == "jsonl":
            atomic.commit(self._tmp, self.path)
            return
        try:
            if self.format == "parquet":
                _spool_to_parquet(self._tmp, self.path, self._kinds)
            else:
                _spool_to_hf(self._tmp, self.path, self._kinds)
        finally:
            self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop what was written; ``path`` stays as it was."""
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


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
    part = atomic.temp_path(path)
    with pq.ParquetWriter(part, schema) as writer:
        for b in batches:
            writer.write_batch(b)
    atomic.commit(part, path)


def _spool_to_hf(tmp: Path, path: Path, kinds) -> None:
    import datasets
    import pyarrow as pa

    plan = _column_plan(kinds)
    schema, batches = _spool_batches(tmp, plan)
    table = pa.Table.from_batches(list(batches), schema=schema)
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    staging = atomic.temp_path(path)  # a directory: saved whole, then swapped in
    shutil.rmtree(staging, ignore_errors=True)
    try:
        datasets.Dataset(table).save_to_disk(str(staging))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
    # datasets drops Arrow schema metadata, so the JSON-column list rides in a side file
    (staging / HF_JSON_COLUMNS_FILE).write_text(json.dumps([n for n in plan if plan[n][1]]))
    atomic.replace_dir(staging, path)
