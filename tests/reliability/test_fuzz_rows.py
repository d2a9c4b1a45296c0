"""Property-based fuzzing of the row reader (``ring_data.io.read_rows``) and the row normaliser
(``ring_data.rows.normalize_row``), issue #17 "Fuzzing".

Generated JSONL (plain, gzip, cut into byte-range segments, read by the stdlib fallback parser too),
Parquet tables with hostile cells, corrupted gzip and Parquet bytes, and arbitrary decoded objects.
What must hold:

- every non-blank input line is exactly one row or one ``bad_row`` reject naming the file and that
  line (in = rows + rejects, nothing lost, nothing twice); a line that is a row stays a row;
- in strict mode the only exception is ``BadInputError``, at the first bad line;
- a file that cannot be read at all (corrupt gzip or Parquet) is one ``BadInputError``;
- ``normalize_row`` returns a complete row or raises ``BadInputError``, and is idempotent.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soak
from fuzz_contract import DIRECT_LIMIT_S, fuzz_settings
from fuzz_rows import Line, jsonl_file, safe_text
from fuzz_text import json_like
from hypothesis import example, given
from hypothesis import strategies as st

import ring_data
from ring_data import io as ring_io
from ring_data.errors import BadInputError
from ring_data.rows import is_normal, normalize_row

# one scratch directory for every example of the session (a directory per example costs more than
# most reads), removed at exit
_SCRATCH = tempfile.mkdtemp(prefix="ring-fuzz-rows-")
atexit.register(shutil.rmtree, _SCRATCH, True)


def _scratch_dir() -> contextlib.nullcontext[str]:
    return contextlib.nullcontext(_SCRATCH)


# examples per property in the short suite (x10 under RING_SOAK=1)
N_JSONL = 100  # files of up to 25 lines, for each of plain, gzip and segments
N_STRICT = 60
N_PARQUET = 60
N_CORRUPT = 80
N_NORMALIZE = 500


@dataclass
class RowStats:
    """What one reader property saw (``soak.record``)."""

    examples: int = 0
    failures: int = 0
    lines: int = 0
    rows: int = 0
    rejects: int = 0
    max_seconds: float = 0.0
    outcomes: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)

    def fail(self, message: str) -> None:
        self.failures += 1
        raise AssertionError(message)

    def figures(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "failures": self.failures,
            "lines": self.lines,
            "rows": self.rows,
            "rejects": self.rejects,
            "max_seconds": round(self.max_seconds, 4),
            "outcomes": dict(sorted(self.outcomes.items())),
            "wall_seconds": round(time.perf_counter() - self.started, 1),
        }


def _read(reader, path: Path | ring_io.Segment | list, stats: RowStats, **kwargs):
    """(rows, rejects) in reject mode, timed; an exception other than BadInputError is a failure."""
    bad: list[dict] = []
    t0 = time.perf_counter()
    try:
        rows = list(reader(path, on_bad_row="reject", bad_rows=bad, **kwargs))
    except BadInputError:
        raise
    except Exception as e:
        stats.fail(f"read_rows raised {type(e).__name__}: {e}")
    stats.max_seconds = max(stats.max_seconds, time.perf_counter() - t0)
    return rows, bad


def _check_accounting(f, path: Path, rows: list[dict], bad: list[dict], stats: RowStats) -> None:
    """Every non-blank line: one row or one reject naming this file and line."""
    expected = f.expected()
    lines = [b["evidence"]["line"] for b in bad]
    stats.lines += len(expected)
    stats.rows += len(rows)
    stats.rejects += len(bad)
    for b in bad:
        stats.outcomes[b["evidence"]["error"].split(": ", 1)[-1].split(" (")[0][:40]] += 1
        if b["reason"] != "bad_row" or b["evidence"]["file"] != str(path):
            stats.fail(f"reject without reason/file: {b}")
        if not b["evidence"]["error"].startswith(f"{path}:{b['evidence']['line']}: "):
            stats.fail(f"reject error does not name file and line: {b['evidence']['error']!r}")
    if len(rows) + len(bad) != len(expected):
        stats.fail(f"{len(expected)} lines in, {len(rows)} rows + {len(bad)} rejects out")
    if len(set(lines)) != len(lines) or not set(lines) <= set(expected):
        stats.fail(f"reject lines {lines} are not distinct non-blank lines of {sorted(expected)}")
    for n, kind in expected.items():
        if kind == "row" and n in lines:
            stats.fail(f"line {n} is a row but was rejected: {bad[lines.index(n)]['evidence']['error']}")
        if kind == "bad" and n not in lines:
            stats.fail(f"line {n} ({f.lines[n - 1].data[:80]!r}) is no row but was not rejected")
    for row in rows:
        if not (is_normal(row) and type(row["prompt"]) is str and type(row["domain"]) is str):
            stats.fail(f"incomplete row {row!r}")


# a line holding every reader bug found so far (each also has a plain test below)
_REGRESSION_FILE = [
    Line(b"\xef\xbb\xbf" + b'{"prompt": "bom", "domain": "math"}', "row"),  # lost to a byte order mark
    Line(b'{"prompt": "p", "domain": "math", "reference": ' + b"[" * 1000 + b"]" * 1000 + b"}", "bad"),
    Line(b'{"prompt": "p", "domain": "math", "id": true}', "bad"),
    Line(b'{"prompt": "p", "domain": "math", "source": [1]}', "bad"),
]


def _regression_jsonl():
    from fuzz_rows import JsonlFile

    return JsonlFile(_REGRESSION_FILE, b"\n".join(ln.data for ln in _REGRESSION_FILE) + b"\n")


@pytest.mark.parametrize("compression", ["plain", "gzip", "segments"])
def test_every_line_is_a_row_or_a_named_reject(compression):
    stats = RowStats()

    @fuzz_settings(N_JSONL)
    @given(f=jsonl_file(), parts=st.integers(2, 5))
    @example(f=_regression_jsonl(), parts=3)
    def prop(f, parts):
        stats.examples += 1
        with _scratch_dir() as tmp:
            path = Path(tmp) / ("in.jsonl.gz" if compression == "gzip" else "in.jsonl")
            path.write_bytes(gzip.compress(f.data) if compression == "gzip" else f.data)
            rows, bad = _read(ring_io.read_rows, path, stats)
            _check_accounting(f, path, rows, bad, stats)
            if compression == "segments":  # byte ranges read apart give the same rows and the same lines
                shards = ring_io.split_segments([path], parts, 1)
                pieces = [_read(ring_io.read_rows, shard, stats) for shard in shards]
                got_rows = [r for rs, _ in pieces for r in rs]
                got_lines = [b["evidence"]["line"] for _, bs in pieces for b in bs]
                if got_rows != rows or got_lines != [b["evidence"]["line"] for b in bad]:
                    stats.fail(f"{len(shards)} segments read {len(got_rows)} rows / rejects {got_lines}")

    try:
        prop()
    finally:
        soak.record(f"fuzz_rows_jsonl_{compression}", **stats.figures())


def test_strict_mode_raises_bad_input_error_at_the_first_bad_line():
    stats = RowStats()

    @fuzz_settings(N_STRICT)
    @given(f=jsonl_file())
    def prop(f):
        stats.examples += 1
        with _scratch_dir() as tmp:
            path = Path(tmp) / "in.jsonl"
            path.write_bytes(f.data)
            rows, bad = _read(ring_io.read_rows, path, stats)
            got: list[dict] = []
            try:
                for row in ring_io.read_rows(path):
                    got.append(row)
            except BadInputError as e:
                stats.outcomes["raised"] += 1
                if not bad or e.line != bad[0]["evidence"]["line"] or str(e) != bad[0]["evidence"]["error"]:
                    stats.fail(f"strict mode raised {e} (first reject: {bad[:1]})")
                if got != rows[: len(got)]:
                    stats.fail("strict mode yielded other rows before its error")
            except Exception as e:
                stats.fail(f"strict mode raised {type(e).__name__}: {e}")
            else:
                stats.outcomes["read"] += 1
                if bad or got != rows:
                    stats.fail(f"strict mode read {len(got)} rows without an error; {len(bad)} rejects")

    try:
        prop()
    finally:
        soak.record("fuzz_rows_strict", **stats.figures())


@pytest.fixture(scope="module")
def stdlib_io():
    """``ring_data.io`` loaded again with orjson hidden: the stdlib JSON fallback."""
    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # import orjson -> ImportError
    try:
        spec = importlib.util.spec_from_file_location("ring_data._io_stdlib_fallback", ring_io.__file__)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = ring_data.__name__
        sys.modules[spec.name] = module  # its dataclasses look their module up while being built
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved
    assert not hasattr(module, "orjson")
    return module


def test_stdlib_fallback_reads_the_same_rows_and_rejects_the_same_lines(stdlib_io):
    stats = RowStats()

    @fuzz_settings(N_STRICT)
    @given(f=jsonl_file())
    @example(f=_regression_jsonl())
    def prop(f):
        stats.examples += 1
        with _scratch_dir() as tmp:
            path = Path(tmp) / "in.jsonl"
            path.write_bytes(f.data)
            rows, bad = _read(stdlib_io.read_rows, path, stats)
            _check_accounting(f, path, rows, bad, stats)
            fast_rows, fast_bad = _read(ring_io.read_rows, path, RowStats())
            lines = [b["evidence"]["line"] for b in bad]
            if lines != [b["evidence"]["line"] for b in fast_bad] or rows != fast_rows:
                stats.fail(
                    f"stdlib rejects lines {lines}, orjson {[b['evidence']['line'] for b in fast_bad]}"
                )

    try:
        prop()
    finally:
        soak.record("fuzz_rows_stdlib_fallback", **stats.figures())


# ---- Parquet ------------------------------------------------------------------------------------
_BAD_JSON_TEXT = st.sampled_from(["{", "[1,", "NaN", '"\\ud800"', "[" * 3000, "{'a': 1}", "", "tru"])


@st.composite
def parquet_table(draw) -> tuple[pa.Table, list[str]]:
    """A table as another tool (or Ring's writer) leaves it, with hostile cells, and the kind of each
    row: "row" when prompt and domain are strings and every JSON cell is valid JSON, else "bad"."""
    n = draw(st.integers(1, 12))
    prompts = draw(st.lists(st.one_of(safe_text, st.none()), min_size=n, max_size=n))
    domains = draw(st.lists(st.one_of(st.just("math"), st.none()), min_size=n, max_size=n))
    json_text = json_like().map(
        lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "replace").decode()
    )
    refs = draw(st.lists(st.one_of(json_text, _BAD_JSON_TEXT, st.none()), min_size=n, max_size=n))
    metas = draw(
        st.lists(
            st.one_of(st.just('{"k": 1}'), st.just("[1]"), _BAD_JSON_TEXT, st.none()), min_size=n, max_size=n
        )
    )
    extra = draw(st.sampled_from(["none", "binary", "timestamp", "decimal", "struct"]))
    cols = {"prompt": pa.array(prompts, pa.string()), "domain": pa.array(domains, pa.string()),
            "reference": pa.array(refs, pa.string()), "meta": pa.array(metas, pa.string())}  # fmt: skip
    if extra == "binary":
        cols["answer_bytes"] = pa.array([b"\x00\xff"] * n, pa.binary())
    elif extra == "timestamp":
        cols["when"] = pa.array([0] * n, pa.timestamp("us"))
    elif extra == "decimal":
        cols["reference"] = pa.array([1] * n, pa.decimal128(5, 2))
    elif extra == "struct":
        cols["solution"] = pa.array([{"a": [1, 2]}] * n)
    table = pa.table(cols).replace_schema_metadata(
        {ring_io.JSON_COLUMNS_KEY: json.dumps(["reference", "meta"]).encode()}
    )

    def valid(text: str | None, want_object: bool) -> bool:
        """What the JSON lines' parser accepts (NaN, lone surrogates and 400-digit numbers are not)."""
        if text is None:
            return True
        try:
            v = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        return isinstance(v, dict) if want_object else True

    kinds = []
    for i in range(n):
        ref_ok = extra == "decimal" or valid(refs[i], False)
        ok = prompts[i] is not None and domains[i] is not None and ref_ok and valid(metas[i], True)
        kinds.append("row" if ok else "bad")
    return table, kinds


def test_parquet_rows_are_rows_or_named_rejects():
    stats = RowStats()

    @fuzz_settings(N_PARQUET)
    @given(table_kinds=parquet_table())
    def prop(table_kinds):
        table, kinds = table_kinds
        stats.examples += 1
        with _scratch_dir() as tmp:
            path = Path(tmp) / "in.parquet"
            pq.write_table(table, path)
            rows, bad = _read(ring_io.read_rows, path, stats)
            stats.lines += len(kinds)
            stats.rows += len(rows)
            stats.rejects += len(bad)
            lines = [b["evidence"]["line"] for b in bad]
            for b in bad:
                stats.outcomes[b["evidence"]["error"].split(": ", 1)[-1][:40]] += 1
            want = [i for i, k in enumerate(kinds, 1) if k == "bad"]
            if lines != want or len(rows) != kinds.count("row"):
                stats.fail(f"rows {len(rows)}, rejects at {lines}; expected rejects at {want}")
            if not all(b["evidence"]["error"].startswith(f"{path}:{b['evidence']['line']}: ") for b in bad):
                stats.fail("a reject does not name the file and row")

    try:
        prop()
    finally:
        soak.record("fuzz_rows_parquet", **stats.figures())


# ---- corrupt files ------------------------------------------------------------------------------
def _valid_parquet(tmp: Path) -> bytes:
    path = tmp / "good.parquet"
    table = pa.table({"prompt": ["p"] * 50, "domain": ["math"] * 50, "reference": ['{"answer": 1}'] * 50})
    pq.write_table(table.replace_schema_metadata({ring_io.JSON_COLUMNS_KEY: b'["reference"]'}), path)
    return path.read_bytes()


_GOOD_LINES = b'{"prompt": "p", "domain": "math", "reference": {"answer": "1"}}\n' * 50


@pytest.mark.parametrize("kind", ["gzip", "parquet"])
def test_corrupt_files_give_one_bad_input_error(kind):
    """Flipped bytes or a truncation anywhere: rows, rejects, or one BadInputError naming the file."""
    stats = RowStats()
    with _scratch_dir() as tmp:
        good = gzip.compress(_GOOD_LINES) if kind == "gzip" else _valid_parquet(Path(tmp))

    @fuzz_settings(N_CORRUPT)
    @given(
        flips=st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), max_size=4),
        cut=st.one_of(st.none(), st.integers(0, len(good))),
    )
    def prop(flips, cut):
        stats.examples += 1
        data = bytearray(good)
        for i, b in flips:
            data[i] = b
        data = bytes(data[:cut] if cut is not None else data)
        with _scratch_dir() as tmp:
            path = Path(tmp) / ("in.jsonl.gz" if kind == "gzip" else "in.parquet")
            path.write_bytes(data)
            try:
                rows, bad = _read(ring_io.read_rows, path, stats)
            except BadInputError as e:
                stats.outcomes["BadInputError"] += 1
                if not str(e).startswith(str(path)):
                    stats.fail(f"error does not name the file: {e}")
                return
            stats.outcomes["read"] += 1
            stats.rows += len(rows)
            stats.rejects += len(bad)

    try:
        prop()
    finally:
        soak.record(f"fuzz_rows_corrupt_{kind}", **stats.figures())


# ---- the normaliser -----------------------------------------------------------------------------
def test_normalize_row_returns_a_complete_row_or_raises_bad_input_error():
    stats = RowStats()
    text_or_junk = st.one_of(safe_text, safe_text, json_like())
    row_like = st.fixed_dictionaries(
        {"prompt": text_or_junk, "domain": text_or_junk},
        optional={
            "id": st.one_of(safe_text, st.integers(), json_like()),
            "source": st.one_of(safe_text, st.integers(), json_like()),
            "meta": st.one_of(st.dictionaries(safe_text, json_like(), max_size=3), json_like()),
            "reference": json_like(),
            "difficulty": json_like(),
        },
    )

    @fuzz_settings(N_NORMALIZE)
    @given(obj=st.one_of(row_like, json_like()))
    @example(obj={"prompt": "p", "domain": "math", "id": True})
    @example(obj={"prompt": "p", "domain": "math", "source": [1]})
    @example(obj={"prompt": "p", "domain": "math", "reference": b"\x00\xff"})
    def prop(obj):
        stats.examples += 1
        t0 = time.perf_counter()
        try:
            row = normalize_row(obj, path="f.jsonl", line=7)
        except BadInputError as e:
            stats.rejects += 1
            stats.outcomes[(e.field or "-") + ": " + e.message[:30]] += 1
            if not str(e).startswith("f.jsonl:7: "):
                stats.fail(f"error does not name file and line: {e}")
            return
        except Exception as e:
            stats.fail(f"normalize_row raised {type(e).__name__}: {e}")
        stats.max_seconds = max(stats.max_seconds, time.perf_counter() - t0)
        stats.rows += 1
        if not (is_normal(row) and type(row["prompt"]) is str and type(row["domain"]) is str):
            stats.fail(f"incomplete row {row!r}")
        if isinstance(row["meta"], dict) is False:
            stats.fail(f"meta {row['meta']!r}")
        if normalize_row(row) != row or normalize_row(obj)["id"] != row["id"]:
            stats.fail("normalize_row is not idempotent / its id is not stable")
        if stats.max_seconds > DIRECT_LIMIT_S:
            stats.fail(f"normalize_row took {stats.max_seconds:.2f} s")

    try:
        prop()
    finally:
        soak.record("fuzz_rows_normalize", **stats.figures())


# ---- regressions: every reader bug the fuzzing found, as a plain example -------------------------
def _reject_mode(path: Path) -> tuple[list[dict], list[dict]]:
    bad: list[dict] = []
    return list(ring_io.read_rows(path, on_bad_row="reject", bad_rows=bad)), bad


ROW = b'{"prompt": "p", "domain": "math"}'


@pytest.mark.parametrize("name", ["in.jsonl", "in.jsonl.gz", "in.json"])
def test_a_byte_order_mark_is_not_data(tmp_path, name):
    data = b"\xef\xbb\xbf" + (
        b"[" + ROW + b", " + ROW + b"]" if name == "in.json" else ROW + b"\n" + ROW + b"\n"
    )
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    rows, bad = _reject_mode(path)
    assert len(rows) == 2 and not bad  # the first row was a reject: "malformed JSON (... BOM ...)"


def test_a_row_nested_deeper_than_the_writers_can_write_is_a_named_reject(tmp_path):
    def nested(depth: int) -> bytes:
        return b'{"prompt": "p", "domain": "math", "reference": ' + b"[" * depth + b"]" * depth + b"}"

    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([nested(200), nested(201), nested(1000), ROW]) + b"\n")
    rows, bad = _reject_mode(path)  # 1000 deep raised RecursionError from the row id's json.dumps
    assert len(rows) == 2 and [b["evidence"]["line"] for b in bad] == [2, 3]
    assert all(
        b["evidence"]["field"] == "reference" and "nested more than 200" in b["evidence"]["error"]
        for b in bad
    )
    with pytest.raises(
        BadInputError, match=r"in.jsonl:2: field 'reference': nested more than 200 levels deep"
    ):
        list(ring_io.read_rows(path))


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"id": True}, "id"),
        ({"source": [1]}, "source"),
        ({"source": {"a": 1}}, "source"),
        ({"source": 2.5}, "source"),
    ],
)
def test_a_boolean_id_or_a_source_that_is_no_text_is_rejected(extra, field):
    with pytest.raises(BadInputError) as e:  # were kept: id "True", a source holding a list
        normalize_row({"prompt": "p", "domain": "math", **extra}, path="f.jsonl", line=3)
    assert e.value.field == field and str(e.value).startswith("f.jsonl:3: ")
    assert normalize_row({"prompt": "p", "domain": "math", "source": 7})["source"] == "7"


def _parquet(tmp_path: Path, columns: dict, metadata: dict | None = None) -> Path:
    path = tmp_path / "in.parquet"
    table = pa.table({"prompt": ["p", "q"], "domain": ["math", "math"], **columns})
    pq.write_table(table.replace_schema_metadata(metadata) if metadata else table, path)
    return path


@pytest.mark.parametrize("text", ["{bad", '"\\ud800"', "[" * 3000, "NaN"])
def test_a_parquet_json_cell_that_is_no_json_is_a_named_reject(tmp_path, text):
    meta = {ring_io.JSON_COLUMNS_KEY: b'["reference"]'}
    path = _parquet(tmp_path, {"reference": [text, '{"answer": 1}']}, meta)
    rows, bad = _reject_mode(path)  # raised JSONDecodeError, UnicodeEncodeError or RecursionError
    assert rows[0]["reference"] == {"answer": 1}
    assert [(b["evidence"]["line"], b["evidence"]["field"]) for b in bad] == [(1, "reference")]
    assert bad[0]["evidence"]["error"].startswith(f"{path}:1: field 'reference': malformed JSON")


@pytest.mark.parametrize("listing", [b"{not json", b"5", b'["a", 1]'])
def test_unreadable_json_columns_metadata_is_one_bad_input_error(tmp_path, listing):
    path = _parquet(tmp_path, {"reference": ["1", "2"]}, {ring_io.JSON_COLUMNS_KEY: listing})
    with pytest.raises(BadInputError, match="ring.json_columns"):  # raised JSONDecodeError / TypeError
        _reject_mode(path)


@pytest.mark.parametrize(
    "column",
    [
        pa.array([b"\x00\xff", b"x"], pa.binary()),
        pa.array([0, None], pa.timestamp("us")),
        pa.array([1, None], pa.decimal128(5, 2)),
    ],
    ids=["binary", "timestamp", "decimal"],
)
def test_parquet_values_json_has_no_type_for_still_get_an_id(tmp_path, column):
    rows, bad = _reject_mode(_parquet(tmp_path, {"reference": column}))  # TypeError from the id's json.dumps
    assert len(rows) == 2 and not bad and all(len(r["id"]) == 16 for r in rows)


def test_corrupt_gzip_is_one_bad_input_error(tmp_path):
    data = bytearray(gzip.compress(_GOOD_LINES))
    data[12] ^= 0xFF  # corrupt deflate data: zlib.error, which is no OSError
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(BadInputError, match="in.jsonl.gz: cannot"):
        _reject_mode(path)


def test_parquet_with_bytes_that_should_be_text_is_one_bad_input_error(tmp_path):
    good = _valid_parquet(tmp_path)
    for at in range(len(good)):  # somewhere a flipped byte breaks a column name or a string page
        data = bytearray(good)
        data[at] = 0x80
        path = tmp_path / "in.parquet"
        path.write_bytes(bytes(data))
        try:
            _reject_mode(path)
        except BadInputError:
            pass  # was UnicodeDecodeError from pyarrow for some of them


@pytest.mark.parametrize(
    "line",
    [
        b'{"prompt": "p", "domain": "math", "reference": NaN}',
        b'{"prompt": "\\ud800", "domain": "math"}',
        b'{"prompt": "p", "domain": "math", "reference": ' + b"9" * 5000 + b"}",
    ],  # fmt: skip
    ids=["nan", "surrogate", "5000-digit"],
)
def test_the_stdlib_fallback_rejects_what_orjson_rejects(tmp_path, stdlib_io, line):
    path = tmp_path / "in.jsonl"
    path.write_bytes(line + b"\n" + ROW + b"\n")
    bad: list[dict] = []
    rows = list(
        stdlib_io.read_rows(path, on_bad_row="reject", bad_rows=bad)
    )  # NaN was a row; 5000 digits raised
    assert len(rows) == 1 and [b["evidence"]["line"] for b in bad] == [1]
    assert _reject_mode(path)[1][0]["evidence"]["line"] == 1
