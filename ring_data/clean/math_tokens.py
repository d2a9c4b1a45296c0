"""Math tokens of a text: its mathematics (numbers, LaTeX, variables, spelled-out numbers) with the
words of any language dropped, the sequence a problem keeps through translation or retelling. The
math signature of decontamination is built on it (hashed in ``normalize``, matched in
``decontam.signature``); dedup never uses it. Pure functions and polars expressions.
"""

from __future__ import annotations

import unicodedata

import polars as pl

# A translated or retold problem keeps its mathematics: numbers, LaTeX, variable names and their order.
# Its *math signature* is that sequence: every number (normalised: ``1{,}000`` = ``1,000`` = ``1 000``
# = ``1.000`` = ``1000``, full-width digits via NFKC; any other ``.`` or ``,`` between digits splits
# them, so ``3.5`` and ``3,5`` and the list ``5,4`` / ``5, 4`` all read ``3 5`` / ``5 4``), numbers
# spelled out (2-20 and the tens in en/fr/es/pt/vi, Chinese/Japanese numerals before a counter, Korean
# native numerals 2-9 and 20 as words of their own), and
# inside math mode (``$..$``, ``$$..$$``, ``\(..\)``, ``\[..\]``) every LaTeX command, single Latin
# letter and operator; prose words of any language, ``\text{..}`` contents, spacing/size/font commands,
# braces and punctuation are dropped. Dedup never uses it (exact and near dedup keep the word tokens
# above), so it has its own version.
MATH_SIG_VERSION = "2"  # 2: Korean numerals

# Numbers spelled out: translators write "7 people" as "七个人" and "ten boxes" as "dix boîtes". 2 to 20 and
# the tens (one / un / 一 is also an article: left out; so are words that are also common English words,
# such as Spanish "once" or French "cent"), as whole words (ASCII word boundaries keep the regex on the
# fast engine); Chinese / Japanese numerals only in front of a counter (三角形 is a triangle, not 3).
_TEENS_TENS = [*range(2, 21), 30, 40, 50, 60, 70, 80, 90]
_NUMBER_WORDS: dict[str, tuple[str, list[int]]] = {
    "en": (
        "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety",
        _TEENS_TENS,
    ),
    "fr": (
        "deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept "
        "dix-huit dix-neuf vingt trente quarante cinquante soixante",
        [*range(2, 21), 30, 40, 50, 60],
    ),
    "es": (
        "dos tres cuatro cinco seis siete ocho nueve diez doce trece catorce quince dieciséis diecisiete "
        "dieciocho diecinueve veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa",
        [*range(2, 11), *range(12, 21), 30, 40, 50, 60, 70, 80, 90],
    ),
    "pt": (
        "dois duas três quatro cinco seis sete oito nove dez onze doze treze catorze quatorze quinze "
        "dezesseis dezasseis dezessete dezoito dezenove vinte trinta quarenta cinquenta sessenta setenta "
        "oitenta noventa",
        [
            2,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            14,
            14,
            15,
            16,
            16,
            *range(17, 21),
            30,
            40,
            50,
            60,
            70,
            80,
            90,
        ],
    ),
    "vi": ("hai ba bốn sáu bảy tám chín mười", [2, 3, 4, 6, 7, 8, 9, 10]),
}
_NUMBER_WORD_VALUES: dict[str, int] = {}
for _words, _values in _NUMBER_WORDS.values():
    _NUMBER_WORD_VALUES.update(zip(_words.split(" "), _values, strict=True))
_TENS_EN = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_UNITS_EN = "one|two|three|four|five|six|seven|eight|nine"
_NUMBER_WORD_PATTERN = (
    r"(?i:(?-u:\b)(?:(?:"
    + _TENS_EN
    + r")-(?:"
    + _UNITS_EN
    + r")|"  # thirty-five
    + "|".join(sorted(_NUMBER_WORD_VALUES, key=len, reverse=True))
    + r")(?-u:\b))"
)
# Korean writes counted things with native numerals before the noun ("여덟 개의 원": eight circles, "두
# 점": two points). Hangul has no ASCII word boundary, so a numeral counts only as a word of its own,
# after a space or the start and before a space (세제곱, a cube, is no 3); ordinals (네 번째,
# fourth) are no numbers, as in English. 하나/한 (one) is
# left out as in the other languages; 열 (ten) too: as a word of its own it is also "column".
_KO_NUMBERS = {
    "두": 2,
    "세": 3,
    "네": 4,
    "다섯": 5,
    "여섯": 6,
    "일곱": 7,
    "여덟": 8,
    "아홉": 9,
    "스무": 20,
    "스물": 20,
}
_KO_NUMBER_ALTERNATIVES = "|".join(sorted(_KO_NUMBERS, key=len, reverse=True))
_CJK_NUMERALS = "零一二两三四五六七八九十百千"
_CJK_COUNTERS = [
    "个",
    "位",
    "名",
    "人",
    "种",
    "次",
    "只",
    "条",
    "本",
    "件",
    "张",
    "天",
    "年",
    "枚",
    "颗",
    "辆",
    "盒",
    "袋",
    "箱",
    "块",
    "元",
    "岁",
    "点",
    "对",
    "组",
    "步",
    "页",
    "层",
    "边",
    "周",
    "小时",
    "分钟",
    "秒",
    "米",
    "公里",
    "英尺",
    "英里",
    "英寸",
    "磅",
    "美元",
    "个月",
    "倍",
    "局",
    "场",
    "道",
    "題",
    "個",
    "つ",
    "匹",
    "冊",
    "台",
    "回",
    "日",
    "週",
    "歳",
    "枚",
    "羽",
    "頭",
    "箇",
    "通り",
    "桁",
    "位数",
    "位",
]
_CJK_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CJK_UNITS = {"十": 10, "百": 100, "千": 1000}


def _cjk_number(text: str) -> int | None:
    """A Chinese / Japanese numeral (一 to 九千九百九十九) as an int."""
    total, digit = 0, None
    for ch in text:
        if ch in _CJK_DIGITS:
            if digit is not None:
                return None  # 二三: not a numeral
            digit = _CJK_DIGITS[ch]
        elif ch in _CJK_UNITS:
            total += (1 if digit is None else digit) * _CJK_UNITS[ch]
            digit = None
        else:
            return None
    return total + (digit or 0)


_MATH_TEXT_COMMANDS = "text|textbf|textit|textrm|textsf|texttt|textup|textnormal|mbox|hbox|emph"
_NUM_SEP = r"(?:,|\.|\{,\}|\\,|\\ |~|\\!|,\\!| |\u00a0|\u202f|\u2009|')"  # between thousands groups
# math-mode spans and numbers, in text order (everything else is prose and goes); a number may hold
# separators here, they are read in the second step
_MATH_PIECES = (
    r"\\\$"  # an escaped dollar in prose (\$5): consumed here, dropped later, never a delimiter
    r"|\$\$(?:[^$\\]|\\[\s\S])*\$\$|\$(?:[^$\\]|\\[\s\S])*\$|\\\([\s\S]*?\\\)|\\\[[\s\S]*?\\\]"
    r"|\\begin\{[a-zA-Z]+\*?\}[\s\S]*?\\end\{[a-zA-Z]+\*?\}"  # a display environment outside $
    r"|\d+(?:(?:" + _NUM_SEP[3:-1] + r"|\.)\d+)*"  # a number in prose (separators read later)
    r"|"
    + _NUMBER_WORD_PATTERN  # a number spelled out (2 to 20, tens), in one of the languages below
    + r"|["
    + _CJK_NUMERALS
    + r"]+(?:"
    + "|".join(_CJK_COUNTERS)
    + r")"  # 七个人, 三つ: numeral + counter
    + r"|(?:^|\s)(?:"
    + _KO_NUMBER_ALTERNATIVES
    + r")\s(?:번째)?"  # 여덟 개: a Korean numeral as a word of its own (네 번째, fourth: dropped below)
)
_MATH_TOKEN = (
    _NUMBER_WORD_PATTERN + r"|[" + _CJK_NUMERALS + r"]+|" + _KO_NUMBER_ALTERNATIVES + r""
    r"|\\[A-Za-z]+|\\[()\[\]]|\d+|[A-Za-z]|[+\-*/=<>^_|!()\[\]']"
    r"|[\u2264\u2265\u2260\u00d7\u00b7\u00f7\u2212\u00b1\u221e\u221a\u03c0\u2220\u25b3\u22a5\u2225]"
)
# layout, size and font commands carry no mathematics; \circ is the degree sign (30^\circ = 30°)
_MATH_DROP = frozenset(
    {
        "left",
        "right",
        "big",
        "bigl",
        "bigr",
        "Big",
        "Bigl",
        "Bigr",
        "bigg",
        "biggl",
        "biggr",
        "Bigg",
        "Biggl",
        "Biggr",
        "middle",
        "displaystyle",
        "textstyle",
        "scriptstyle",
        "scriptscriptstyle",
        "quad",
        "qquad",
        "mathrm",
        "mathbf",
        "mathit",
        "mathsf",
        "mathcal",
        "mathbb",
        "mathfrak",
        "mathscr",
        "bold",
        "boldsymbol",
        "bm",
        "operatorname",
        "limits",
        "nolimits",
        "hspace",
        "vspace",
        "phantom",
        "rm",
        "bf",
        "it",
        "cal",
        "circ",
        "degree",
        "ensuremath",
        "hline",
        "newline",
        "noindent",
        "label",
        "tag",
        "nonumber",
        "notag",
        "boxed",
    }
)
# spellings of one symbol -> one token (unicode symbols as their LaTeX command)
_MATH_SYNONYMS = {
    "dfrac": "frac", "tfrac": "frac", "cfrac": "frac", "le": "leq", "ge": "geq", "ne": "neq",
    "leqslant": "leq", "geqslant": "geq", "lt": "<", "gt": ">", "ldots": "dots", "cdots": "dots",
    "dotsb": "dots", "dotsc": "dots", "dotsm": "dots", "to": "rightarrow", "gets": "leftarrow",
    "lvert": "|", "rvert": "|", "vert": "|", "mid": "|", "lVert": "||", "rVert": "||", "Vert": "||",
    "neg": "lnot", "land": "wedge", "lor": "vee", "over": "frac", "div": "div", "colon": ":",
}  # fmt: skip
_UNICODE_MATH = {
    "\u2264": "\\leq", "\u2265": "\\geq", "\u2260": "\\neq", "\u00d7": "\\times", "\u00b7": "\\cdot",
    "\u00f7": "\\div", "\u2212": "-", "\u00b1": "\\pm", "\u221e": "\\infty", "\u221a": "\\sqrt",
    "\u03c0": "\\pi", "\u2220": "\\angle", "\u25b3": "\\triangle", "\u22a5": "\\perp", "\u2225": "\\parallel",
}  # fmt: skip


def math_token_expr(text: pl.Expr, *, nfkc: bool = True) -> pl.Expr:
    """Polars expression: text -> list of raw math tokens (before :func:`canonical_math_token`).

    Two steps, each a plain find-all (no capture groups: those make the regex engine ~6x slower):
    the math-mode spans and prose numbers in order, joined; then its tokens."""
    if nfkc:
        text = text.str.normalize("NFKC")
    num = r"(\d)" + _NUM_SEP + r"(\d{3})(\D|$)"
    math = (
        text.str.replace_all(
            r"\$(\d[\d,]*(?:\.\d+)?)([.,;:!?)]*(?:\s+[^\W\d_]|\s*$))", "${1}${2}"
        )  # "$40 a day"
        .str.extract_all(_MATH_PIECES)
        .list.join("  ")
    )
    return (
        math.str.replace_all(
            r"\\(?:" + _MATH_TEXT_COMMANDS + r")\s*\{[^{}]*\}"  # words, any language
            r"|\\(?:begin|end)\s*\{[^{}]*\}"  # environment names are not variables
            r"|\\%|%|\u00b0|\^\s*\{?\s*\\circ\s*\}?"  # percent, degrees
            r"|(?:" + _KO_NUMBER_ALTERNATIVES + r")\s번째",  # an ordinal, as "fourth" is no number
            " ",
        )
        .str.replace_all(num, "${1}${2}${3}")
        .str.replace_all(num, "${1}${2}${3}")  # twice: matches do not overlap in 1,000,000
        .str.extract_all(_MATH_TOKEN)
    )


def canonical_math_token(token: str) -> str:
    """One raw math token -> its canonical spelling, or "" when it carries no mathematics."""
    if token in _KO_NUMBERS:
        return str(_KO_NUMBERS[token])
    if token[0] in _CJK_NUMERALS:
        value = _cjk_number(token)
        return str(value) if value is not None and value >= 2 else ""
    if len(token) > 1 and not token.startswith("\\") and not token[0].isdigit():  # a number word
        low = token.lower()
        if "-" in low:
            tens, _, unit = low.partition("-")
            value = _NUMBER_WORD_VALUES.get(tens, 0) + (
                1 if unit == "one" else _NUMBER_WORD_VALUES.get(unit, 0)
            )
            return str(value) if value else ""
        value = _NUMBER_WORD_VALUES.get(low)
        return str(value) if value else ""
    if token.startswith("\\"):
        if not token[1:].isalpha():  # \( \) \[ \]: math-mode delimiters
            return ""
        name = _MATH_SYNONYMS.get(token[1:], token[1:])
        if name in _MATH_DROP:
            return ""
        return name if not name.isalpha() else "\\" + name
    if token[0].isdigit():
        if not token.isascii():  # Arabic-Indic, Devanagari ... digits (NFKC keeps them)
            token = "".join(str(unicodedata.digit(ch, 0)) if ch.isdigit() else ch for ch in token)
        whole, _, frac = token.partition(".")
        return (whole.lstrip("0") or "0") + ("." + frac if frac else "")
    return _UNICODE_MATH.get(token, token)


def math_token_lists(texts: list[str] | pl.Series) -> pl.Series:
    """Raw math tokens of many texts (a list[str] Series), ASCII rows without the NFKC pass."""
    series = texts if isinstance(texts, pl.Series) else pl.Series(texts, dtype=pl.String)
    frame = pl.DataFrame({"text": series}).with_row_index("_order")
    text = pl.col("text")
    ascii_row = ~text.str.contains(r"[^\x00-\x7F]").fill_null(False)  # in Rust, no Python loop
    parts = [
        frame.lazy().filter(ascii_row == a).select("_order", tokens=expr.fill_null([]))
        for a, expr in ((True, math_token_expr(text, nfkc=False)), (False, math_token_expr(text)))
    ]
    return pl.concat(parts).sort("_order").collect(engine="streaming")["tokens"]


def math_tokens(text: str) -> list[str]:
    """The math signature of one text: its canonical math tokens in order (a pure function)."""
    return [c for t in math_token_lists([text])[0].to_list() if (c := canonical_math_token(t))]


def number_bits(token: str) -> float:
    """How surprising a number token is, in bits: ~3.3 per significant digit, 1 per trailing zero, 2
    for a single digit (2, 10, 100 and 2024 are common in problems; 235423523 is not)."""
    digits = token.replace(".", "").lstrip("0") or "0"
    significant = digits.rstrip("0") or "0"
    if len(digits) == 1:
        return 2.0
    return 3.3 * len(significant) + 1.0 * (len(digits) - len(significant))
