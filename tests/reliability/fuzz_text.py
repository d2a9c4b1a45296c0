"""Hypothesis strategies for hostile text and malformed JSON-like values, shared by the fuzz tests.

What a policy (or a broken dataset) can hand a verifier or the row reader: any unicode (lone
surrogates, NULs, right-to-left marks, combining characters, odd digits), LaTeX and bracket soup,
deep nesting of ``{}``, ``\\frac``, ``\\boxed``, JSON, huge numbers and exponents, long strings, and
every shape a reference may wrongly take (None, scalars, lists of lists, dicts missing keys).
"""

from __future__ import annotations

import json
import string

from hypothesis import strategies as st

# characters that break naive text handling: NUL and controls, bidi marks, zero-width and combining
# characters, a BOM, non-ASCII digits and minus signs, line and paragraph separators
ODD_CHARS = (
    "\x00\x01\x07\x0b\x0c\x1b\x7f\r\t\n\u0085\u00a0\u2028\u2029"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2069\ufeff"
    "\u0301\u0308\u20dd\u0336"
    "\uff11\uff12\u0663\u06f5\u0967\u00b2\u00b9\u2074\u00bd\u2212\u2013\u00d7\u00f7\u00b7"
    "\u00b5\u03bc\u2126\u00c5\u00b0\U0001d7cf\U0001f600\ufffd"
)
LONE_SURROGATES = "\ud800\udbff\udc00\udfff"

# tokens a math answer is built from, plus the markers every extractor looks for
LATEX_TOKENS = [
    "\\boxed{", "\\boxed ", "\\fbox{", "}", "{", "\\frac", "\\dfrac", "\\sqrt", "^", "_", "!", "10", "9",
    "0", "1", "2", "3.5", "-", "+", "*", "/", ".", ",", "{,}", "\\,", "\\!", "\\;", "$", "$$", "\\(",
    "\\)", "\\[", "\\]", "(", ")", "[", "]", "\\{", "\\}", "\\pm", "x", "y", "e", "E", "\\pi",
    "\\infty", "%", "\\%", "^\\circ", "\\text{", "\\mathrm{", "\\left(", "\\right)", "\\begin{pmatrix}",
    "\\end{pmatrix}", "&", "\\\\", "=", "\\times", "\\cdot", "\\approx", "\\le", "\\cup", "\\in",
    "<answer>", "</answer>", "<think>", "</think>", "Answer:", "The answer is ", "Final Answer: ",
    " ", "\n", "\n\n", "**", "```", "```python\n", "J", "kJ", "m/s", "\\mu", "A", "(B)", "C)",
    "Option D", "knight", "knave", " is a ", "U", "D", "L", "R", "up", "[[", "]]", "[0, 1]", '"',
    "__import__('os')", "os.system(", "lambda", "eval(", "\\x00", "\\u0000", "\\ud800",
]  # fmt: skip

# pairs that nest: (opening, closing); a closing part may be dropped to make the text unbalanced
NESTERS = [
    ("\\boxed{", "}"), ("\\frac{", "}{2}"), ("{", "}"), ("(", ")"), ("[", "]"), ("\\sqrt{", "}"),
    ("\\left(", "\\right)"), ("[[", "]]"), ('{"a": ', "}"), ("[", ", 1]"), ("2^{", "}"),
    ("<answer>", "</answer>"), ("<think>", "</think>"), ("\\text{", "}"), ("$", "$"),
]  # fmt: skip

any_char = st.characters(codec=None, exclude_categories=())  # every code point, surrogates included
odd_char = st.sampled_from(ODD_CHARS + LONE_SURROGATES)


def unicode_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Arbitrary unicode, weighted towards the characters that break text handling."""
    return st.text(st.one_of(any_char, odd_char, st.sampled_from(string.printable)), max_size=max_size)


def latex_soup(max_tokens: int = 60) -> st.SearchStrategy[str]:
    """Random sequences of LaTeX, marker and answer tokens (often unbalanced)."""
    token = st.one_of(st.sampled_from(LATEX_TOKENS), odd_char, st.text(max_size=3))
    return st.lists(token, max_size=max_tokens).map("".join)


@st.composite
def nested(draw, max_depth: int = 3000) -> str:
    """One nesting pair repeated ``depth`` times around a core, balanced or not."""
    opening, closing = draw(st.sampled_from(NESTERS))
    depth = draw(st.one_of(st.integers(0, 60), st.integers(60, max_depth)))
    core = draw(st.one_of(st.sampled_from(["1", "x", "", "10^{10}", "[0, 1]", '"a"']), latex_soup(5)))
    balanced = draw(st.booleans())
    tail = closing * depth if balanced else closing * draw(st.integers(0, depth))
    return opening * depth + core + tail


@st.composite
def huge_number(draw) -> str:
    """Numbers too big, too small or too long to evaluate naively, in every notation."""
    digits = draw(st.integers(1, 5000))
    big = draw(st.sampled_from("123456789")) + "9" * (digits - 1)
    exp = draw(st.one_of(st.integers(-(10**6), 10**6), st.sampled_from([308, 309, -324, 9999, 99999])))
    forms = [
        big,
        "-" + big,
        f"0.{'0' * min(digits, 2000)}1",
        f"1e{exp}",
        f"9.99E{exp}",
        f"1 \\times 10^{{{exp}}}",
        f"3.2 \\times 10^{exp}",
        f"10^{{10^{{10^{{{abs(exp)}}}}}}}",
        f"{big[:12]}!",
        f"{big[:6]}!!",
        f"2^{{2^{{{min(digits, 200)}}}}}",
        f"(x+1)^{{{abs(exp)}}}",
        f"\\frac{{1}}{{{big}}}",
        f"{big[:400]}.{big[:400]}",
        "1" + ",000" * min(digits, 300),
        f"1e{exp} J",
        f"{big[:20]} kJ",
    ]
    return draw(st.sampled_from(forms))


def long_text(max_repeats: int = 2000) -> st.SearchStrategy[str]:
    """A short piece repeated up to ``max_repeats`` times (tens of kilobytes)."""
    return st.tuples(latex_soup(6), st.integers(1, max_repeats)).map(lambda p: p[0] * p[1])


def hostile_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Any of the above."""
    return st.one_of(unicode_text(max_size), latex_soup(), nested(), huge_number(), long_text())


# ---- JSON-like values and malformed references ---------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    unicode_text(30),
    st.sampled_from(["", " ", "\x00", "A", "1", "knight", "python", "at least", "\ud800"]),
)


def json_like(max_leaves: int = 12) -> st.SearchStrategy:
    """Nested lists and dicts of scalars (what a JSON reference may wrongly hold)."""
    return st.recursive(
        scalars,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4), st.dictionaries(unicode_text(8), kids, max_size=4)
        ),
        max_leaves=max_leaves,
    )


class _ShortRepr:
    """Prints as its depth: hypothesis and the reports print inputs, and a value nested hundreds
    deep would exhaust the recursion limit there (not in the code under test)."""

    depth = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} nested {self.depth} deep>"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


class DeepList(_ShortRepr, list):
    pass


class DeepDict(_ShortRepr, dict):
    pass


def deep_json(max_depth: int = 900) -> st.SearchStrategy:
    """A list or dict nested ``depth`` deep (built iteratively). 900 is about the most a JSON parser
    hands over (orjson stops at 1024, the stdlib at the recursion limit); deeper text is fuzzed as text."""

    def build(args):
        depth, as_dict, leaf = args
        value = leaf
        for _ in range(depth - 1):
            value = {"a": value} if as_dict else [value]
        outer = DeepDict(a=value) if as_dict else DeepList([value])
        outer.depth = depth
        return outer

    return st.tuples(st.integers(1, max_depth), st.booleans(), st.sampled_from([1, "x", None, [[1]]])).map(
        build
    )


def malformed_reference(keys: list[str]) -> st.SearchStrategy:
    """A reference of the wrong shape for a domain whose reference has ``keys``: not a dict, a dict
    missing keys, or those keys holding values of the wrong type (lists of lists, huge numbers...)."""
    wrong_value = st.one_of(json_like(), deep_json(200), st.just([[1, 2], [3]]), st.just([[[]]]))
    return st.one_of(
        json_like(),
        deep_json(),
        st.dictionaries(st.sampled_from(keys), wrong_value, max_size=len(keys)),
        st.fixed_dictionaries({k: wrong_value for k in keys}),
    )


def json_text(value) -> str:
    """``value`` as JSON text; lone surrogates become ``\\ud800`` escapes (what other writers emit)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True)
