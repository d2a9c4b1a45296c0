"""Text normalisation shared by exact dedup, near dedup and decontamination (pure functions).

A problem becomes a token sequence: NFKC, lower case, LaTeX spacing and wrappers removed (``$``,
``\\(``, ``\\left``, ``\\,``, braces), ``\\dfrac``/``\\tfrac`` read as ``frac``, thousands separators
joined, sentence punctuation dropped; words, numbers, LaTeX command names and math operators are
tokens; CJK characters are one token each. Two problems with the same token sequence are the same
problem. Tokens hash to stable 64-bit values (xxh64, seed 0), never Python's or polars' hash, because
the shipped benchmark indexes store these hashes. ``NORMALIZER_VERSION`` is recorded in every index
manifest and work directory; change it whenever a change here would alter a token or a hash.

Decontamination's math signatures are hashed here too (``MathEncoded``): their tokens come from
:mod:`.math_tokens`, in the same polars pass as the word tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import xxhash

from .math_tokens import canonical_math_token, math_token_expr, math_token_lists, number_bits

NORMALIZER_VERSION = "1"

_DROP_COMMANDS = [
    "left",
    "right",
    "big",
    "bigl",
    "bigr",
    "bigg",
    "biggl",
    "biggr",
    "displaystyle",
    "textstyle",
    "scriptstyle",
    "quad",
    "qquad",
    "text",
    "textbf",
    "textit",
    "textrm",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathcal",
    "mathbb",
    "boldsymbol",
    "operatorname",
    "mbox",
    "hspace",
    "vspace",
    "limits",
    "nolimits",
]
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_TOKEN = (
    r"\d+(?:\.\d+)?"  # number
    r"|[" + _CJK + r"]"  # one CJK / kana character
    r"|[\p{L}\p{M}&&[^" + _CJK + r"]]+"  # word (LaTeX command names arrive here without the backslash)
    r"|[+\-*/=<>^!|()\[\]]"  # math operator / bracket
)


def token_expr(text: pl.Expr, *, nfkc: bool = True) -> pl.Expr:
    """Polars expression: text -> list of normalised tokens (runs in Rust, on all cores). ``nfkc=False``
    is for text already in NFKC (every ASCII string is)."""
    thousands = r"(\d),(\d{3})\b"
    if nfkc:
        text = text.str.normalize("NFKC")
    return (
        text.str.to_lowercase()
        .str.replace_all(r"\\(?:" + "|".join(_DROP_COMMANDS) + r")\b", " ")
        .str.replace_all(r"\\[,;:! ]|\\[()\[\]]|\{,\}|~", " ")
        .str.replace_all(r"\\[dt]frac", r"\\frac")
        .str.replace_all(thousands, "${1}${2}")
        .str.replace_all(thousands, "${1}${2}")  # twice: matches do not overlap in 1,000,000
        .str.replace_all(r"\\([a-z]+)", " ${1} ")
        .str.extract_all(_TOKEN)
    )


def token_lists(texts: list[str] | pl.Series, verbatim: list[bool] | None = None) -> pl.Series:
    """Normalised tokens of many texts (a list[str] Series); ``verbatim`` rows (prompts of domains whose
    ``DomainInfo.verbatim`` is set: puzzle grids and symbols are content) are split on whitespace only,
    lower-cased, never stripped of punctuation."""
    return _token_frame(texts, verbatim)["tokens"]


def _token_frame(
    texts: list[str] | pl.Series, verbatim: list[bool] | None = None, math: bool = False
) -> pl.DataFrame:
    """``tokens`` (and, with ``math``, the raw math tokens ``math``: one query, so both share the
    row split and the NFKC pass)."""
    texts = texts.to_list() if isinstance(texts, pl.Series) else texts
    verbatim = verbatim if verbatim is not None else [False] * len(texts)
    # Rows are split three ways so each runs only its own expression (polars evaluates both sides of
    # a when/then): verbatim, ASCII (NFKC, the costliest step, is a no-op there), the rest.
    kind = [0 if v else 1 if t is None or t.isascii() else 2 for t, v in zip(texts, verbatim)]
    frame = pl.DataFrame(
        {"text": pl.Series(texts, dtype=pl.String), "kind": pl.Series(kind, dtype=pl.UInt8)}
    ).with_row_index("_order")
    text = pl.col("text")
    expressions = (
        text.str.to_lowercase().str.extract_all(r"\S+"),
        token_expr(text, nfkc=False),
        token_expr(text),
    )
    math_expressions = (  # puzzle grids (verbatim rows) have no math signature
        pl.lit([], dtype=pl.List(pl.String)),
        math_token_expr(text, nfkc=False),
        math_token_expr(text),
    )

    def columns(k: int) -> dict[str, pl.Expr]:
        return {
            "tokens": expressions[k].fill_null([]),
            **({"math": math_expressions[k].fill_null([])} if math else {}),
        }

    if len(present := set(kind)) == 1:  # the usual batch (all ASCII): one query, no split and re-sort
        return frame.lazy().select(**columns(present.pop())).collect(engine="streaming")
    parts = [frame.lazy().filter(pl.col("kind") == k).select("_order", **columns(k)) for k in range(3)]
    return pl.concat(parts).sort("_order").collect(engine="streaming")  # parallel morsels


def tokens(text: str, verbatim: bool = False) -> list[str]:
    """Normalised tokens of one text."""
    return token_lists([text], [verbatim])[0].to_list()


def without_numbers(toks: list[str]) -> list[str]:
    return [t for t in toks if not t[0].isdigit()]


def hash_strings(values: list[str]) -> np.ndarray:
    return np.fromiter(
        (xxhash.xxh64_intdigest(v.encode("utf-8")) for v in values), dtype=np.uint64, count=len(values)
    )


@dataclass
class Encoded:
    """Many documents as arrays: ``flat[offsets[d]:offsets[d+1]]`` are document d's token hashes."""

    flat: np.ndarray  # uint64 token hashes, documents end to end
    offsets: np.ndarray  # int64, n_docs + 1
    is_number: np.ndarray  # bool per token
    exact_hash: np.ndarray  # uint64 per doc: hash of the token sequence
    digitless_hash: np.ndarray  # uint64 per doc: same without number tokens
    digitless_len: np.ndarray  # int64 per doc
    numbers_hash: np.ndarray  # uint64 per doc: hash of the numbers in order
    math: MathEncoded | None = (
        None  # math signatures, for decontamination (``encode_math``); dedup ignores it
    )

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    def digitless(self) -> tuple[np.ndarray, np.ndarray]:
        """Token hashes and offsets with number tokens removed."""
        keep = ~self.is_number
        counts = _per_doc_counts(keep, self.offsets)
        return self.flat[keep], np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def encode(
    texts: list[str] | pl.Series,
    verbatim: list[bool] | None = None,
    *,
    math: bool = False,
    answers: list[str | None] | None = None,
) -> Encoded:
    """Tokenise and hash many texts at once (polars for the text work, xxh64 per distinct token).
    With ``math`` also their math signatures (``Encoded.math``, see :func:`encode_math`; the word
    tokens are the same either way)."""
    frame = _token_frame(texts, verbatim, math)
    toks = frame["tokens"]
    lengths = toks.list.len().to_numpy().astype(np.int64)
    offsets = np.concatenate([[0]] + [np.cumsum(lengths)]).astype(np.int64)
    # hash and classify each distinct token once, then index: one pass over the exploded tokens
    distinct, which = distinct_and_index(toks.explode().drop_nulls())
    flat = hash_strings(distinct.to_list())[which] if len(distinct) else np.empty(0, np.uint64)
    num_mask = (
        distinct.str.contains(r"^\d").to_numpy().astype(bool)[which] if len(distinct) else np.empty(0, bool)
    )
    enc = Encoded(flat, offsets, num_mask, *(np.empty(0, np.uint64),) * 2, np.empty(0, np.int64), np.empty(0))
    enc.exact_hash = sequence_hashes(flat, offsets)
    nodig_flat, nodig_offsets = enc.digitless()
    enc.digitless_hash = sequence_hashes(nodig_flat, nodig_offsets)
    enc.digitless_len = np.diff(nodig_offsets)
    num_counts = _per_doc_counts(num_mask, offsets)
    enc.numbers_hash = sequence_hashes(flat[num_mask], np.concatenate([[0], np.cumsum(num_counts)]))
    if math:
        enc.math = _math_encoded(frame["math"], answers)
    return enc


def distinct_and_index(values: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The distinct strings of ``values`` and, for each value, its position among them: one hash
    pass (Arrow's dictionary encoding; polars' unique + replace takes two and ~2x the time)."""
    import pyarrow.compute as pc

    if not len(values):
        return pl.Series(values.name, [], dtype=pl.String), np.zeros(0, np.int64)
    encoded = pc.dictionary_encode(values.to_arrow())
    if hasattr(encoded, "combine_chunks"):  # a chunked array
        encoded = encoded.combine_chunks()
    which = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return pl.Series(values.name, encoded.dictionary, dtype=pl.String), which


def sequence_hashes(flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One stable 64-bit hash per document of its whole token-hash sequence (order matters):
    ``mix(sum_i t_i * P^(L-1-i) + L)`` in wrapping uint64 arithmetic, vectorised over documents."""
    n_docs = len(offsets) - 1
    lengths = np.diff(offsets)
    out = np.zeros(n_docs, dtype=np.uint64)
    if len(flat):
        max_len = int(lengths.max())
        with np.errstate(over="ignore"):
            powers = np.cumprod(
                np.concatenate([[1], np.full(max_len - 1, FNV_PRIME, dtype=np.uint64)]).astype(np.uint64)
            )
            from_end = np.repeat(offsets[1:] - 1, lengths)  # each token's distance to its doc's end
            from_end -= np.arange(len(flat))
            terms = powers[from_end]
            terms *= flat
            nonempty = np.flatnonzero(lengths > 0)
            out[nonempty] = np.add.reduceat(terms, offsets[nonempty])
    with np.errstate(over="ignore"):
        return mix64(out + lengths.astype(np.uint64))


def _per_doc_counts(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many ``True`` of a per-token mask fall in each document."""
    running = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    return running[offsets[1:]] - running[offsets[:-1]]


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
FNV_PRIME = np.uint64(0x100000001B3)  # FNV prime: the multiplier of the rolling n-gram combination


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised): spreads combined hashes over all 64 bits."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def flat_ngram_hashes(flat: np.ndarray, offsets: np.ndarray, n: int, *, with_positions: bool = False):
    """N-gram hashes for many documents at once. ``flat`` holds every document's token hashes end to
    end, document ``d`` being ``flat[offsets[d]:offsets[d+1]]``. Returns ``(hashes, doc)``: one entry
    per n-gram that lies inside one document, with the document it belongs to (and, with
    ``with_positions``, where in the document it starts)."""
    total = len(flat) - n + 1
    if total <= 0:
        empty = (np.empty(0, np.uint64), np.empty(0, np.int64))
        return (*empty, np.empty(0, np.int64)) if with_positions else empty
    hashes = rolling_ngram_hashes(flat, n)
    lengths = np.diff(offsets)
    doc = np.repeat(np.arange(len(lengths)), lengths)[:total]
    local = np.arange(total) - offsets[:-1][doc]
    inside = local <= lengths[doc] - n
    if with_positions:
        return hashes[inside], doc[inside], local[inside]
    return hashes[inside], doc[inside]


def rolling_ngram_hashes(flat: np.ndarray, n: int) -> np.ndarray:
    """Hash of every window of ``n`` consecutive token hashes of ``flat`` (``len(flat) - n + 1`` of them,
    including windows that span two documents; callers drop those)."""
    total = len(flat) - n + 1
    if total <= 0:
        return np.empty(0, np.uint64)
    acc = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):  # in place: no temporaries of the full length per step
            acc *= FNV_PRIME
            acc += flat[j : j + total]
    return mix64(acc)


# ---- math signatures as arrays (decontamination only; the tokens come from ``math_tokens``) -----------
@dataclass
class MathEncoded:
    """Math signatures of many documents: ``flat[offsets[d]:offsets[d+1]]`` are document d's math
    token hashes; ``answer_hash`` is the hash of the signature of its reference answer (0: none)."""

    flat: np.ndarray  # uint64
    offsets: np.ndarray  # int64, n_docs + 1
    is_number: np.ndarray  # bool per token
    number_bits: np.ndarray  # float32 per token (0 for non-numbers)
    answer_hash: np.ndarray  # uint64 per doc
    answer_bits: np.ndarray  # float32 per doc

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def concat(cls, parts: list[MathEncoded]) -> MathEncoded:
        shift = np.cumsum([0] + [len(p.flat) for p in parts[:-1]])
        return cls(
            np.concatenate([np.zeros(0, np.uint64)] + [p.flat for p in parts]),
            np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shift)]).astype(np.int64),
            np.concatenate([np.zeros(0, bool)] + [p.is_number for p in parts]),
            np.concatenate([np.zeros(0, np.float32)] + [p.number_bits for p in parts]),
            np.concatenate([np.zeros(0, np.uint64)] + [p.answer_hash for p in parts]),
            np.concatenate([np.zeros(0, np.float32)] + [p.answer_bits for p in parts]),
        )


def _hash_math_tokens(toks: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """list[str] Series of raw tokens -> (flat hashes, offsets, is_number, number_bits) of the canonical
    tokens; each distinct raw token is canonicalised and hashed once."""
    lengths = toks.list.len().to_numpy().astype(np.int64)
    exploded = toks.explode().drop_nulls()
    if not len(exploded):
        z = np.zeros(len(lengths) + 1, np.int64)
        return np.empty(0, np.uint64), z, np.empty(0, bool), np.empty(0, np.float32)
    distinct, which = distinct_and_index(exploded)
    canon = [canonical_math_token(t) for t in distinct.to_list()]
    hashes = np.where([bool(c) for c in canon], hash_strings(["m:" + c for c in canon]), np.uint64(0))
    is_num = np.array([bool(c) and c[0].isdigit() for c in canon], dtype=bool)
    bits = np.array([number_bits(c) if n else 0.0 for c, n in zip(canon, is_num)], dtype=np.float32)
    keep = hashes[which] != 0
    offsets = np.concatenate(
        [[0], np.cumsum(_per_doc_counts(keep, np.concatenate([[0], np.cumsum(lengths)])))]
    )
    return hashes[which][keep], offsets.astype(np.int64), is_num[which][keep], bits[which][keep]


def encode_math(texts: list[str] | pl.Series, answers: list[str | None] | None = None) -> MathEncoded:
    """Math signatures of many texts (and of their reference answers, when given)."""
    return _math_encoded(math_token_lists(texts), answers)


def _math_encoded(raw: pl.Series, answers: list[str | None] | None) -> MathEncoded:
    flat, offsets, is_num, bits = _hash_math_tokens(raw)
    n = len(offsets) - 1
    answer_hash = np.zeros(n, np.uint64)
    answer_bits = np.zeros(n, np.float32)
    all_answers = pl.Series(answers if answers is not None else [], dtype=pl.String)
    which = np.flatnonzero((all_answers.fill_null("") != "").to_numpy()) if len(all_answers) else []
    if len(which):
        # each distinct answer once (a data set has few: 0-999, 1/2, ...), read as math mode: an
        # answer is mathematics whether or not it is written in $..$
        given = all_answers.gather(which)
        distinct = given.unique()
        a_flat, a_off, a_num, a_bits = _hash_math_tokens(
            math_token_lists("$" + distinct.str.replace_all("$", " ", literal=True) + "$")
        )
        lengths = np.diff(a_off)
        h = np.where(lengths > 0, sequence_hashes(a_flat, a_off), np.uint64(0)).astype(np.uint64)
        # bits of an answer: its numbers' bits + 1 per other token (\frac, \sqrt, a variable)
        running = np.concatenate(
            [[0.0], np.cumsum(np.where(a_num, a_bits, np.float32(1.0)), dtype=np.float64)]
        )
        total = (running[a_off[1:]] - running[a_off[:-1]]).astype(np.float32)
        k = given.replace_strict(
            distinct, pl.Series(np.arange(len(distinct))), return_dtype=pl.Int64
        ).to_numpy()
        answer_hash[which] = h[k]
        answer_bits[which] = total[k]
    return MathEncoded(flat, offsets, is_num, bits, answer_hash, answer_bits)
