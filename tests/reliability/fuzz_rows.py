"""Hypothesis strategies for the row reader's fuzz tests: JSON lines that are rows, lines that are not
(malformed JSON, invalid UTF-8, NULs, lone surrogates, NaN, huge numbers, deep nesting, objects of
the wrong shape), blank lines, byte order marks, CRLF, and Parquet tables with hostile cells.

Every generated line says what it is (:class:`Line`): ``row`` lines must come out as rows, ``bad``
lines as ``bad_row`` rejects naming the file and the line, ``blank`` lines as nothing, and ``either``
lines (well-formed JSON objects whose fields may or may not be usable) as exactly one of the two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fuzz_text import json_like, unicode_text
from hypothesis import strategies as st

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Line:
    data: bytes  # without the line break
    kind: str  # "row", "bad", "blank" or "either"


def _encode(obj, ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# text that survives JSON and UTF-8 both ways: every code point but the surrogates
safe_text = st.text(st.characters(codec="utf-8"), max_size=40)


@st.composite
def good_row(draw) -> dict:
    row = {
        "prompt": draw(safe_text),
        "domain": draw(st.sampled_from(["math", "code", "x", "\u202edomain", ""])),
    }
    if draw(st.booleans()):
        row["id"] = draw(st.one_of(safe_text, st.integers(-(2**63), 2**63 - 1)))
    if draw(st.booleans()):
        row["source"] = draw(safe_text)
    if draw(st.booleans()):
        row["meta"] = draw(
            st.dictionaries(safe_text, st.one_of(st.integers(-(2**53), 2**53), safe_text), max_size=3)
        )
    if draw(st.booleans()):
        row["reference"] = draw(
            st.recursive(
                st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), safe_text),
                lambda kids: st.one_of(
                    st.lists(kids, max_size=3), st.dictionaries(safe_text, kids, max_size=3)
                ),
                max_leaves=8,
            )
        )
    return row


def _deep(depth: int) -> bytes:
    return b'{"prompt": "p", "domain": "math", "reference": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


bad_json = st.one_of(
    st.sampled_from(
        [
            b"{",
            b'{"prompt": "p", "domain": "math"',
            b'{"prompt": "p" "domain": "math"}',
            b'{"prompt": "a\x00b", "domain": "math"}',  # a raw NUL inside a string
            b'{"prompt": "\\ud800", "domain": "math"}',  # a lone surrogate escape
            b'{"prompt": "\xff\xfe", "domain": "math"}',  # invalid UTF-8
            b'{"prompt": "p", "domain": "math", "reference": NaN}',
            b'{"prompt": "p", "domain": "math", "reference": Infinity}',
            b'{"prompt": "p", "domain": "math"} trailing',
            b'{"prompt": "p", "domain": "math", "reference": ' + b"9" * 5000 + b"}",
            b"\x00\x00\x00",
            b"nul\x00l",
            b"\xc3",
            b"'single'",
            b'{"prompt": "p", "domain": "math"}\r{"prompt": "q", "domain": "math"}',  # an old-Mac line break
        ]
    ),
    st.binary(min_size=1, max_size=60).filter(lambda b: b.strip() and not _is_json(b)),
)


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
        return True
    except (ValueError, RecursionError):
        return False


# well-formed JSON that is no usable row: the reader must reject each (or, for "either", decide)
not_a_row = st.one_of(
    st.sampled_from([[1], "x", 1, None, True, [], {}]),
    st.fixed_dictionaries({"prompt": json_like(), "domain": json_like()}).filter(
        lambda r: not (type(r["prompt"]) is str and type(r["domain"]) is str)
    ),
    st.fixed_dictionaries(
        {"prompt": st.just("p"), "domain": st.just("math"), "meta": st.sampled_from([[1], "m", 5])}
    ),
    st.fixed_dictionaries(
        {"prompt": st.just("p"), "domain": st.just("math"), "id": st.sampled_from([1.5, True, [1], {}])}
    ),
    st.fixed_dictionaries(
        {
            "prompt": st.just("p"),
            "domain": st.just("math"),
            "source": st.sampled_from([[1], {"a": 1}, 2.5, True]),
        }
    ),
    st.dictionaries(unicode_text(8), json_like(), max_size=4).filter(
        lambda r: "prompt" not in r or "domain" not in r
    ),
)


@st.composite
def line(draw) -> Line:
    kind = draw(st.sampled_from(["row", "row", "row", "bad", "not_row", "deep", "blank", "either"]))
    ascii_only = draw(st.booleans())
    if kind == "row":
        return Line(_encode(draw(good_row()), ascii_only), "row")
    if kind == "bad":
        return Line(draw(bad_json).replace(b"\n", b" "), "bad")
    if kind == "not_row":
        return Line(_encode(draw(not_a_row), ascii_only), "bad")
    if kind == "deep":  # past what the writers can write (200), past what the parser reads (1024)
        return Line(_deep(draw(st.sampled_from([201, 255, 999, 1023, 1024, 5000]))), "bad")
    if kind == "blank":
        return Line(draw(st.sampled_from([b"", b" ", b"\t", b"\r", b"  \r", b"\x0c", b"\x0b "])), "blank")
    obj = draw(
        st.dictionaries(
            st.sampled_from(["prompt", "domain", "id", "source", "meta", "reference"]), json_like()
        )
    )
    return Line(_encode(obj, ascii_only).replace(b"\n", b" "), "either")


@dataclass(frozen=True)
class JsonlFile:
    lines: list[Line]
    data: bytes

    def expected(self) -> dict[int, str]:
        """Line number -> kind of every line the reader must account for (blank lines are none)."""
        return {i: ln.kind for i, ln in enumerate(self.lines, 1) if ln.kind != "blank"}


@st.composite
def jsonl_file(draw, max_lines: int = 25) -> JsonlFile:
    lines = draw(st.lists(line(), min_size=1, max_size=max_lines))
    if not any(ln.kind != "blank" for ln in lines):
        lines.append(Line(b'{"prompt": "p", "domain": "math"}', "row"))
    crlf = draw(st.booleans())
    body = b"\n".join(ln.data + (b"\r" if crlf and ln.data else b"") for ln in lines)
    if draw(st.booleans()):
        body += b"\n"
    if draw(st.booleans()):
        body = BOM + body
    return JsonlFile(lines, body)
