"""ring_data.io: every format round-trips rows; bad input names file, line and field."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ring_data.errors import BadInputError, UserError
from ring_data.io import RowWriter, parse_mapping, read_rows, write_rows
from ring_data.rows import content_id

ROWS = [
    {
        "id": "m1",
        "domain": "math",
        "prompt": "What is 1+1?",
        "reference": {"answer": "2"},
        "meta": {"level": 1},
    },
    {
        "id": "c1",
        "domain": "code",
        "prompt": "Echo the input.",
        "reference": {"language": "python", "tests": [{"input": "1", "output": "1"}]},
    },
    {"id": "m2", "domain": "math", "prompt": "Half of 3?", "reference": "\\frac{3}{2}", "difficulty": None},
]


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz", "rows.parquet", "rows_hf"])
def test_round_trip_keeps_heterogeneous_references(tmp_path, name):
    path = tmp_path / name
    assert write_rows(path, ROWS) == 3
    back = list(read_rows(path))
    assert [r["id"] for r in back] == ["m1", "c1", "m2"]
    assert back[0]["reference"] == {"answer": "2"} and back[0]["meta"] == {"level": 1}
    assert back[1]["reference"]["tests"] == [{"input": "1", "output": "1"}]
    assert back[2]["reference"] == "\\frac{3}{2}"  # a plain-string reference stays a string
    assert all(r["source"] == name for r in back)


def test_streaming_writer_counts_and_reads_several_files_in_order(tmp_path):
    with RowWriter(tmp_path / "a.parquet") as w:
        for r in ROWS[:2]:
            w.write(r)
    assert w.count == 2
    write_rows(tmp_path / "b.jsonl", ROWS[2:])
    ids = [r["id"] for r in read_rows([tmp_path / "a.parquet", tmp_path / "b.jsonl"])]
    assert ids == ["m1", "c1", "m2"]
    assert [r["id"] for r in read_rows(tmp_path)] == ["m1", "c1", "m2"]  # directory = its files, sorted


def test_json_array_file_and_missing_id_gets_stable_content_hash(tmp_path):
    path = tmp_path / "arr.json"
    path.write_text(json.dumps([{"domain": "math", "prompt": "p", "reference": {"answer": "1"}}]))
    (row,) = read_rows(path)
    assert row["id"] == content_id("math", "p", {"answer": "1"})
    assert len(row["id"]) == 16


def test_mapping_moves_foreign_columns_into_nested_fields(tmp_path):
    mapping = parse_mapping("question=prompt, answer=reference.answer,meta.kind=domain")
    assert mapping == {"question": "prompt", "answer": "reference.answer", "meta.kind": "domain"}
    path = tmp_path / "foreign.parquet"
    pq.write_table(
        pa.table({"question": ["Q?"], "answer": ["7"], "meta": [{"kind": "math"}], "extra": [3]}), path
    )
    (row,) = read_rows(path, mapping=mapping)
    assert row["prompt"] == "Q?" and row["reference"] == {"answer": "7"} and row["domain"] == "math"
    assert row["extra"] == 3 and "question" not in row


def test_mapping_errors_name_the_source_column(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"q": "x", "domain": "math"}\n')
    with pytest.raises(BadInputError) as e:
        list(read_rows(path, mapping={"question": "prompt"}))
    assert str(e.value) == f"{path}:1: field 'question': missing column (mapped to 'prompt')"
    with pytest.raises(UserError, match="SOURCE=FIELD"):
        parse_mapping("question")


def test_defaults_fill_missing_domain(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"prompt": "x"}\n')
    (row,) = read_rows(path, defaults={"domain": "math"})
    assert row["domain"] == "math"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"domain": "math", "prompt": "ok"}\n{"domain": "math", "prompt": \n', ":2: malformed JSON"),
        (
            b'{"domain": "math", "prompt": "ok"}\n{"domain": "math"}\n',
            ":2: field 'prompt': missing required field",
        ),
        (
            b'{"domain": "math", "prompt": "ok"}\n{"domain": "math", "prompt": "\xff\xfe"}\n',
            ":2: not valid UTF-8",
        ),
        (b"", ": empty file: no rows"),
        (b'{"domain": "math", "prompt": 5}\n', ":1: field 'prompt': must be a string"),
    ],
)
def test_bad_jsonl_is_one_line_naming_file_line_field(tmp_path, content, expected):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(BadInputError) as e:
        list(read_rows(path))
    msg = str(e.value)
    assert msg == f"{path}{expected}" or msg.startswith(f"{path}{expected}")
    assert "\n" not in msg


def test_wrong_parquet_schema_names_field_and_row(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"domain": ["math", "math"], "prompt": ["fine", None]}), path)
    with pytest.raises(BadInputError) as e:
        list(read_rows(path))
    assert str(e.value) == f"{path}:2: field 'prompt': missing required field"
    path2 = tmp_path / "nope.parquet"
    path2.write_bytes(b"not parquet at all")
    with pytest.raises(BadInputError, match="not a readable Parquet file"):
        list(read_rows(path2))


def test_reject_mode_keeps_good_rows_and_records_bad_ones(tmp_path):
    path = tmp_path / "mixed.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(
            b'{"domain": "math", "prompt": "a"}\nnot json\n{"domain": "math"}\n{"domain": "math", "prompt": "b"}\n'
        )
    bad: list = []
    good = list(read_rows(path, on_bad_row="reject", bad_rows=bad))
    assert [r["prompt"] for r in good] == ["a", "b"]
    assert [b["reason"] for b in bad] == ["bad_row", "bad_row"]
    assert [b["evidence"]["line"] for b in bad] == [2, 3]
    assert bad[1]["evidence"]["field"] == "prompt" and bad[0]["raw"] == "not json"


def test_unknown_format_is_a_user_error(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n")
    with pytest.raises(UserError, match="unknown format"):
        list(read_rows(path))
