"""Ring-lite row filters: each catches its case, lets ordinary problems through, respects domains."""

import pytest

from ring_data.clean.filters import FilterSet, Settings


def _check(prompt, answer="5", domain="math", **kw):
    return FilterSet(**kw).first_failure(
        {"prompt": prompt, "reference": {"answer": answer}, "domain": domain}
    )


@pytest.mark.parametrize(
    ("prompt", "answer", "reason"),
    [
        ("As shown in the figure, find the area of triangle ABC.", "6", "filter_image"),
        ("Find the area of the shaded region. ![fig](img1.png)", "6", "filter_image"),
        ("(a) Find x such that 2x=4. (b) Find y such that 3y=9.", "2", "filter_multipart"),
        ("Which is largest? (A) 1 (B) 2 (C) 3 (D) 4", "D", "filter_choice"),
        ("True or false: every prime greater than 2 is odd.", "True", "filter_choice"),
        ("Is 91 a prime number?", "No", "filter_choice"),
        ("Prove that there are infinitely many primes.", "", "filter_proof"),
        ("Give an example of a non-abelian group of order 6.", "S_3", "filter_proof"),
        (r"Compute $\frac{1}{2 + 3$.", "0.2", "filter_latex"),
        (r"Compute $\left( 1 + 2 $.", "3", "filter_latex"),
        (r"Find $x$ if $2x = 4 and stop.", "2", "filter_latex"),
        ("Вычислите сумму всех чисел от одного до десяти.", "55", "filter_language"),
        ("จงหาผลรวมของจำนวนเต็มทั้งหมดตั้งแต่หนึ่งถึงสิบ", "55", "filter_language"),
        ("2+2", "4", "filter_length"),
    ],
)
def test_each_filter_catches_its_case(prompt, answer, reason):
    got = _check(prompt, answer)
    assert got is not None and got[0] == reason, got
    assert got[1]  # evidence says what matched


@pytest.mark.parametrize(
    "prompt",
    [
        r"Find the value of $x$ if $3x + 5 = 20$.",
        "How many positive divisors does 360 have?",
        r"Let $f(x) = \frac{x^2-1}{x+1}$. Compute $f(3)$ and simplify your answer.",
        "A train leaves at 3 pm and travels 120 km at 60 km/h. At what time does it arrive?",
        "计算 1 到 100 的所有整数之和。",
        # Japanese written mostly in kana, and Korean (Hangul): CJK scripts, like Han
        "りんごが 10 こあります。3 こたべると、のこりはいくつですか。",
        "サイコロを ２ かい ふります。でためのわが ７ になるかくりつは？",
        "1부터 100까지의 모든 정수의 합을 구하시오.",
        "How many apples are left after Tom eats 3 of his 10 apples?",
        # real MATH-500 / GSM phrasings that once tripped the rules
        "A plumber works 4 days every week. If he gets paid $110 every day and $1,200 in bonus, how much?",
        "Sophia is trying to decide whether to do her taxes herself or hire an accountant at $50 an hour.",
        "If $f(1)=2$, $f(2) = 6$, and $f(3)=5$, then what is $f^{-1}(f^{-1}(6))$?",
        "For how many positive integers $n>1$ is it true that $2^{24}$ is a perfect $n^{\\text{th}}$ power?",
    ],
)
def test_ordinary_problems_pass(prompt):
    assert _check(prompt) is None


def test_domains_and_switches():
    mc = "Which is largest? (A) 1 (B) 2 (C) 3 (D) 4"
    assert _check(mc, "D", domain="science") is None  # multiple choice is fine in science
    assert _check(mc, "D", enabled=("image", "proof")) is None  # switched off
    assert _check("x" * 50, settings=Settings(max_prompt_chars=40))[0] == "filter_length"
    assert (
        _check(
            "The quick brown fox jumps over the lazy dog again and again today.",
            settings=Settings(languages=("de",)),
        )[0]
        == "filter_language"
    )


def test_vectorised_batch_gives_the_same_verdicts_as_row_by_row():
    from ring_data.clean.corpus import make_corpus

    rows = make_corpus(300, seed=1)
    odd = [
        "As shown in the figure, find x.",
        "(a) Find x. (b) Find y.",
        "Which? (A) 1 (B) 2 (C) 3",
        "Prove that 2 is prime.",
        r"Compute $\frac{1}{2$.",
        r"Compute $\left( 1 $.",
        "Вычислите сумму чисел.",
        "tiny",
        r"\begin{align} x \end{equation}",
        "Is 7 prime?",
    ]
    rows += [
        {"prompt": p, "domain": d, "reference": {"answer": "yes"}} for p in odd for d in ("math", "code")
    ]
    fs = FilterSet()
    assert fs.batch(rows) == [fs.first_failure(r) for r in rows]
    assert sum(v is not None for v in fs.batch(rows)) >= 12


def test_a_filter_registered_from_user_code_runs_by_default_and_its_code_is_part_of_resume(
    tmp_path, monkeypatch
):
    """A filter is one registered unit: a module with ``@register_filter`` (here written by the test),
    on by default for the domains it names, vectorised through its prefilter, and a resumed clean run
    redoes ingest when the filter's code changed (no stale verdicts)."""
    import importlib.util
    import sys

    from ring_data.clean.filters import base, filter_names
    from ring_data.clean.pipeline import clean
    from ring_data.io import write_rows

    monkeypatch.setattr(base, "_FILTERS", dict(base._FILTERS))  # the test's filter leaves with it

    def load(source: str):
        path = tmp_path / "user_url_filter.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("user_url_filter", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["user_url_filter"] = module
        spec.loader.exec_module(module)

    source = """
from ring_data.clean.filters import register_filter

def may_fail(prompt, answer, settings):
    return prompt.str.contains("http")

@register_filter("url", domains=("math",), prefilter=may_fail, override=True)
def url(prompt, reference, settings):
    return {"match": "http"} if "http://" in prompt else None
"""
    load(source)
    assert filter_names()[-1] == "url"  # after the built-ins (order=100)
    rows = [
        {
            "id": "m",
            "domain": "math",
            "prompt": "See http://example.com for the value of 2 + 3.",
            "reference": "5",
        },
        {
            "id": "c",
            "domain": "code",
            "prompt": "Fetch http://example.com and print its status.",
            "reference": None,
        },
        {
            "id": "s",
            "domain": "math",
            "prompt": "Visit https://example.com then compute 7 * 6.",
            "reference": "42",
        },
    ]
    assert FilterSet().first_failure(rows[0]) == ("filter_url", {"match": "http"})
    assert FilterSet().batch(rows) == [("filter_url", {"match": "http"}), None, None]
    assert FilterSet(enabled=("length",)).first_failure(rows[0]) is None
    write_rows(tmp_path / "in.jsonl", rows)
    first = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert first.rejected_by_reason == {"filter_url": 1} and "url" in first.stats["config"]["filters"]
    again = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert "ingest" in again.stats["resumed_stages"]
    load(source.replace('"http://" in prompt', '"http" in prompt'))  # the filter's code changes
    changed = clean(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert changed.stats["resumed_stages"] == [] and changed.rejected_by_reason == {"filter_url": 2}
    with pytest.raises(ValueError, match="already registered"):
        load(source.replace(", override=True", ""))
