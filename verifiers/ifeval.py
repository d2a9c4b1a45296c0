"""``ifeval``: the 25 IFEval instruction families, checked by instruction id + kwargs.

Reference: ``{"instructions": [{"id": "keywords:existence", "kwargs": {"keywords": ["ai"]}}, ...]}``;
the IFEval dataset's own shape ``{"instruction_id_list": [...], "kwargs": [{...}, ...]}`` is accepted too
(kwargs set to ``None`` are ignored, as in the released data). The response checked is the text after
the reasoning block (an unclosed ``<think>`` is ``no_answer``).

``score`` = fraction of instructions met, ``correct`` only when all are. Matching is strict as in IFEval;
``loose=True`` also accepts the response with its first and/or last line removed and ``*`` stripped
(IFEval's "loose" metric). Each check is a small pure function of (text, kwargs); ``CHECKS`` maps the
instruction id to it, so one more family is one more entry.

Every check follows the official IFEval checker (google-research's ``instruction_following_eval``, the
code lm-eval ships), so scores compare with published ones: words are ``\\w+`` runs ("you're" is two),
sentences are split like nltk's Punkt (a numbered list item is not a sentence of its own), capitalised
words are counted on nltk-style word tokens, and the first word of a paragraph keeps its ``:`` or
``**``. ``convention="natural"`` restores Ring's earlier, more forgiving counts for those four
(``NATURAL_CHECKS``). Deliberate differences that remain: keywords, forbidden words, postscript markers
and section splitters are matched literally (the official code reads them as regular expressions; the
same for every released IFEval kwarg); language detection is seeded (deterministic); a
``letter_frequency`` letter outside a-z is counted as given (the official code picks a random letter);
the answer is stripped of surrounding whitespace before checking.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from .common import invalid_reference
from .extract import split_reasoning
from .registry import ReferenceCheck, register, register_reference_check
from .result import Status, VerifyResult

MAX_RESPONSE_CHARS = 200_000  # IFEval answers are short; beyond this the checks only cost time

RELATIONS = ("less than", "at least")
CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
CONVENTIONS = ("official", "natural")


def _relation_ok(count: int, relation: str, value: int) -> bool:
    return count < value if relation == "less than" else count >= value


def count_words(text: str) -> int:
    """Words as the official checker counts them: runs of ``\\w`` ("you're" is two words)."""
    return len(re.findall(r"\w+", text))


# ---- sentences: the official checker counts them with nltk's Punkt (English model) -----------------
# A plain-Python re-implementation of Punkt's decision rules. Its word lists stand in for the trained
# model: known abbreviations, words that start sentences, and (approximately) which capitalised words
# are ordinary words rather than names. What matters most for IFEval answers: ``1.`` before a
# lower-case word does not end a sentence, ``e.g.``/``etc.``/``i.e.`` do (Punkt does not know them).


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_PUNKT_ABBREVIATIONS = _word_set(
    # titles, firms, months and days, US states, units and the like
    "adm bros calif cie co col colo conn corp dr gen jr lt maj messrs mr mrs ms prof rep reps sen sr "
    "st inc ltd jan feb aug sep sept oct nov dec tues wed fri ala ariz fla ga ill kan ky mich minn nev "
    "okla ore pa tenn va vt wash wis ave chg cos ct ft mg ok sw vs yr a.m p.m a.d ph.d m.b.a u.s u.s.a "
    "u.k u.n u.s.s.r d.c l.a n.y n.j n.c n.d n.h n.m n.v w.va "
    # initials of people the model saw often ("J.K. Rowling"); other letter pairs end a sentence
    "a.a a.c a.g a.h a.s a.t b.f b.v c.v d.h d.w e.f e.h e.l e.m f.g f.j g.d g.f g.k h.c h.f h.m j.b "
    "j.c j.j j.k j.p j.r l.f l.p m.j r.a r.h r.i r.j r.k r.t s.a s.c s.g s.s t.j w.c w.r w.w "
    # single letters taken as abbreviations; the others are initials
    "c d e f g h k l m n p r s t v w"
)
_PUNKT_SENT_STARTERS = _word_set(
    "according although among both but despite even he however i if in indeed instead it many "
    "meanwhile moreover most nevertheless nonetheless nor separately similarly since so some the "
    "there these they this though thus under when while yet"
)
# "<number>. <word>": pairs the model learned are not sentence ends (list items in its news corpus)
_PUNKT_NUMBER_COLLOCATIONS = _word_set(
    "abreast business commodities corrections credit dividend financing insider international "
    "leisure letters notable review who"
)
# capitalised, these still read as ordinary words (a sentence start), never as a name
_PUNKT_PLAIN_WORDS = _word_set(
    "so yet thus therefore moreover instead finally furthermore overall hence otherwise besides "
    "likewise similarly please note still always here which such sometimes yes your her him them us"
)
_NON_WORD = r"""[)";}\]*:@'({\[?!]"""
_MULTI_PUNCT = r"(?:-{2,}|\.{2,}|(?:\.\s){2,}\.)"
_WORD_END = rf"(?=\s|$|{_NON_WORD}|{_MULTI_PUNCT}|,(?=$|\s|{_NON_WORD}|{_MULTI_PUNCT}))"
_PUNKT_TOKEN = re.compile(rf"""{_MULTI_PUNCT}|(?=[^("`{{\[:;&#*@)}}\]\-,])\S+?{_WORD_END}|\S""")
_END_CANDIDATE = re.compile(rf"[.?!](?=(?P<after>{_NON_WORD}|\s+(?P<next>\S+)))")
_CLOSING_PUNCT = re.compile(r"""["')\]}]+?(?:\s+|(?=--)|$)""", re.MULTILINE)
_NUMBER = re.compile(r"-?[.,]?\d[\d,.-]*\.?")
_INITIAL = re.compile(r"[^\W\d]\.")


class _Token:
    """A word of a candidate context with Punkt's annotations."""

    def __init__(self, text: str):
        self.text = text
        self.type = "##number##" if _NUMBER.fullmatch(text.lower()) else text.lower()
        self.sentbreak = self.abbr = self.ellipsis = False

    def type_no_period(self) -> str:
        return self.type[:-1] if len(self.type) > 1 and self.type.endswith(".") else self.type


def _first_pass(tok: _Token) -> None:
    """Decisions from the token alone: ``.?!`` end sentences, ``word.`` too unless an abbreviation."""
    t = tok.text
    if t in (".", "?", "!"):
        tok.sentbreak = True
    elif re.fullmatch(r"\.\.+", t):
        tok.ellipsis = True
    elif t.endswith(".") and not t.endswith(".."):
        base = t[:-1].lower()
        tok.abbr = base in _PUNKT_ABBREVIATIONS or base.split("-")[-1] in _PUNKT_ABBREVIATIONS
        tok.sentbreak = not tok.abbr


def _starts_sentence(tok: _Token, typ: str) -> bool | None:
    """Punkt's orthographic heuristic: True/False when the next word's case settles it, else None."""
    if tok.text in (";", ":", ",", ".", "!", "?") or tok.text[0].islower():
        return False
    if tok.text[0].isupper() and typ in _PUNKT_PLAIN_WORDS:
        return True
    return None


def _seen_in_lowercase(typ: str) -> bool:
    """Is this capitalised word also used in lower case (so "B. The" ends a sentence, "J. Smith" does
    not)? Punkt looks the word up in its training vocabulary; without it, every word but the pronoun
    ``I`` and abbreviations counts as ordinary: IFEval answers hold more outlines ("A. Overview")
    than initials of names."""
    return typ != "i" and not typ.endswith(".")


def _second_pass(tok: _Token, nxt: _Token) -> None:
    """Revisit ``tok.`` knowing the next word: abbreviations, initials and numbers."""
    if not tok.text.endswith("."):
        return
    typ = tok.type_no_period()
    nxt_typ = nxt.type_no_period() if nxt.sentbreak else nxt.type
    initial = bool(_INITIAL.fullmatch(tok.text))
    if typ == "##number##" and nxt_typ in _PUNKT_NUMBER_COLLOCATIONS:
        tok.sentbreak, tok.abbr = False, True
        return
    starter = nxt.text[0].isupper() and nxt_typ in _PUNKT_SENT_STARTERS
    if (tok.abbr or tok.ellipsis) and not initial and (_starts_sentence(nxt, nxt_typ) or starter):
        tok.sentbreak = True
        return
    if initial or typ == "##number##":
        starts = _starts_sentence(nxt, nxt_typ)
        if starts is False or (
            starts is None and initial and nxt.text[0].isupper() and not _seen_in_lowercase(nxt_typ)
        ):
            tok.sentbreak, tok.abbr = False, True


def _context_breaks(context: str) -> bool:
    """Does a sentence end inside ``context`` (the word before a candidate, it, and the next word)?"""
    toks = [_Token(t) for line in context.split("\n") for t in _PUNKT_TOKEN.findall(line)]
    for tok in toks:
        _first_pass(tok)
    for tok, nxt in zip(toks, toks[1:]):
        _second_pass(tok, nxt)
    return any(tok.sentbreak for tok in toks[:-1])


def _end_candidates(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """(match, context) for each ``.?!`` followed by punctuation or a word; a run such as ``!!!``
    counts once, at its last mark."""
    prev_word, prev = (0, 0), None
    for m in _END_CANDIDATE.finditer(text):
        before = text[prev_word[1] : m.start()]
        space = max(before.rfind(c) for c in string.whitespace)  # like nltk, a space at 0 counts as none
        word = (prev_word[1] + space + 1 if space > 0 else prev_word[0], m.start())
        if prev is not None and prev_word[1] <= word[0]:
            yield prev, text[prev_word[0] : prev_word[1]] + prev.group() + prev.group("after")
        prev, prev_word = m, word
    if prev is not None:
        yield prev, text[prev_word[0] : prev_word[1]] + prev.group() + prev.group("after")


def _realign(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Closing quotes and brackets after a sentence end belong to that sentence."""
    out: list[tuple[int, int]] = []
    shift = 0
    for (start, end), nxt in zip(spans, [*spans[1:], None]):
        start += shift
        m = _CLOSING_PUNCT.match(text[nxt[0] : nxt[1]]) if nxt else None
        if m:
            out.append((start, nxt[0] + len(m.group(0).rstrip())))
            shift = m.end()
        else:
            shift = 0
            if text[start:end]:
                out.append((start, end))
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences as the official checker's Punkt tokenizer finds them."""
    spans, last = [], 0
    for m, context in _end_candidates(text):
        if _context_breaks(context):
            spans.append((last, m.end()))
            last = m.start("next") if m.group("next") else m.end()
    spans.append((last, len(text.rstrip())))
    return [text[s:e] for s, e in _realign(text, spans)]


def count_sentences(text: str) -> int:
    """Sentences as the official checker counts them (nltk's Punkt, English)."""
    return len(split_sentences(text))


# ---- capitalised words: the official checker counts upper-case tokens of nltk's word_tokenize ----
# Its Treebank-style rules, applied to each Punkt sentence: punctuation, brackets and quotes become
# their own tokens and contractions split off ("DON'T" -> "DO" + "N'T": two capitalised words);
# hyphens, slashes and inner periods stay inside a word ("U.S.", "AI-POWERED": one each).
_TREEBANK_SPLITS = [
    (re.compile(r"([«“‘„»”’]|`+)"), r" \1 "),  # curly quotes and backticks
    (re.compile(r"""([ (\[{<])("|'')"""), r"\1 `` "),  # an opening double quote
    (re.compile(r"(?i)(')(?!re|ve|ll|m|t|s|d|n)(\w)\b"), r"\1 \2"),  # 'x -> ' x, but not 're, 's ...
    (re.compile(r"""([^.])(\.)([\]\)}>"'»”’ ]*)\s*$"""), r"\1 \2 \3 "),  # the sentence's last period
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),  # "," and ":" unless inside a number
    (re.compile(r"\.{2,}"), r" \g<0> "),
    (re.compile(r"[;@#$%&?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),  # a closing single quote
    (re.compile(r"[*\]\[(){}<>]|--|''|\""), r" \g<0> "),
    (re.compile(r" +"), " "),
]
_CONTRACTION_PAIRS = (
    ("can", "not"),
    ("d", "'ye"),
    ("gim", "me"),
    ("gon", "na"),
    ("got", "ta"),
    ("lem", "me"),
    ("more", "'n"),
)
_CLITIC = re.compile(r"([^' ])('[sSmMdD]|'|'ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ")  # "it's " -> "it 's "
_TREEBANK_CONTRACTIONS = [
    *(re.compile(rf"(?i)\b({a})({b})\b") for a, b in _CONTRACTION_PAIRS),
    re.compile(r"(?i)\b(wan)(na)(?=\s)"),
    re.compile(r"(?i) ('t)(is|was)\b"),
]


def _treebank_tokens(sentence: str) -> list[str]:
    # one space between words and around the text first: the same tokens, and no regex runs long
    sentence = " " + re.sub(r"\s+", " ", sentence) + " "
    for pattern, repl in _TREEBANK_SPLITS:
        sentence = pattern.sub(repl, sentence)
    sentence = _CLITIC.sub(r"\1 \2 ", sentence)
    for pattern in _TREEBANK_CONTRACTIONS:
        sentence = pattern.sub(r" \1 \2 ", sentence)
    return sentence.split()


def count_capital_words(text: str) -> int:
    """Tokens in all capitals, as the official checker counts them."""
    return sum(tok.isupper() for s in split_sentences(text) for tok in _treebank_tokens(s))


def _paragraphs_by_divider(text: str) -> list[str]:
    return re.split(r"\s?\*\*\*\s?", text)


def _strip_fences(text: str) -> str:
    s = text.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):  # in turn, as the official checker does
        s = s.removeprefix(fence)
    return s.removesuffix("```").strip()


@lru_cache(maxsize=1)
def _langdetect():
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0  # langdetect is random unless seeded
    return detect


def _detect_language(text: str) -> str | None:
    try:
        return _langdetect()(text)
    except Exception:  # no features in text (digits only, empty): IFEval counts it as followed
        return None


# ---- the checks: fn(text, kwargs) -> bool ---------------------------------------------------------


def _keywords_existence(t: str, kw: dict) -> bool:
    return all(re.search(re.escape(k), t, re.IGNORECASE) for k in kw["keywords"])


def _keywords_frequency(t: str, kw: dict) -> bool:
    n = len(re.findall(re.escape(kw["keyword"].strip()), t, re.IGNORECASE))
    return _relation_ok(n, kw["relation"], kw["frequency"])


def _forbidden_words(t: str, kw: dict) -> bool:
    return not any(re.search(r"\b" + re.escape(w) + r"\b", t, re.IGNORECASE) for w in kw["forbidden_words"])


def _letter_frequency(t: str, kw: dict) -> bool:
    n = t.lower().count(kw["letter"].lower())
    return _relation_ok(n, kw["let_relation"], kw["let_frequency"])


def _response_language(t: str, kw: dict) -> bool:
    got = _detect_language(t)
    return got is None or got == kw["language"]


def _number_sentences(t: str, kw: dict) -> bool:
    return _relation_ok(count_sentences(t), kw["relation"], kw["num_sentences"])


def _number_paragraphs(t: str, kw: dict) -> bool:
    paras = _paragraphs_by_divider(t)
    n = len(paras)
    for i, p in enumerate(paras):
        if not p.strip():
            if i == 0 or i == len(paras) - 1:
                n -= 1  # a divider at the very start or end
            else:
                return False  # two dividers in a row
    return n == kw["num_paragraphs"]


def _number_words(t: str, kw: dict) -> bool:
    return _relation_ok(count_words(t), kw["relation"], kw["num_words"])


def _first_word(paragraph: str) -> str:
    """Lower-cased first word, cut at the first of ``.,?!'"`` (so "Summary:" stays "summary:")."""
    word = paragraph.split()[0].lstrip("'").lstrip('"')
    return re.split(r"""[.,?!'"]""", word, maxsplit=1)[0].lower()


def _nth_paragraph_first_word(t: str, kw: dict) -> bool:
    # paragraphs are split at exactly "\n\n"; empty ones are not counted but still take an index
    paras = t.split("\n\n")
    n = sum(1 for p in paras if p.strip())
    nth = kw["nth_paragraph"]
    if not 1 <= nth <= n or not paras[nth - 1].strip():
        return False
    return n == kw["num_paragraphs"] and _first_word(paras[nth - 1]) == kw["first_word"].lower()


def _number_placeholders(t: str, kw: dict) -> bool:
    return len(re.findall(r"\[.*?\]", t)) >= kw["num_placeholders"]


def _postscript(t: str, kw: dict) -> bool:
    marker = (kw.get("postscript_marker") or "P.S.").strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.search(pattern, t.lower(), re.MULTILINE))


def _number_bullet_lists(t: str, kw: dict) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", t, re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", t, re.MULTILINE)
    return len(stars) + len(dashes) == kw["num_bullets"]


def _constrained_response(t: str, kw: dict) -> bool:
    return any(opt in t.strip() for opt in CONSTRAINED_RESPONSES)


def _highlighted_sections(t: str, kw: dict) -> bool:
    n = sum(1 for h in re.findall(r"\*[^\n\*]*\*", t) if h.strip("*").strip())
    n += sum(1 for h in re.findall(r"\*\*[^\n\*]*\*\*", t) if h.removeprefix("**").removesuffix("**").strip())
    return n >= kw["num_highlights"]


def _multiple_sections(t: str, kw: dict) -> bool:
    splitter = (kw.get("section_spliter") or "Section").strip()
    sections = re.split(r"\s?" + re.escape(splitter) + r"\s?\d+\s?", t)
    return len(sections) - 1 >= kw["num_sections"]


def _json_format(t: str, kw: dict) -> bool:
    try:
        json.loads(_strip_fences(t))
    except (ValueError, RecursionError):
        return False
    return True


def _title(t: str, kw: dict) -> bool:
    return any(m.lstrip("<").rstrip(">").strip() for m in re.findall(r"<<[^\n]+>>", t))


def _two_responses(t: str, kw: dict) -> bool:
    parts = t.split("******")
    valid = [p.strip() for p in parts if p.strip()]
    empty_inside = any(not p.strip() for p in parts[1:-1])
    return len(valid) == 2 and not empty_inside and valid[0] != valid[1]


def _repeat_prompt(t: str, kw: dict) -> bool:
    return t.strip().lower().startswith(kw["prompt_to_repeat"].strip().lower())


def _end_checker(t: str, kw: dict) -> bool:
    return t.strip().strip('"').lower().endswith(kw["end_phrase"].strip().lower())  # quotes around are ok


def _quotation(t: str, kw: dict) -> bool:
    s = t.strip()
    return len(s) > 1 and s[0] == '"' and s[-1] == '"'


def _capital_word_frequency(t: str, kw: dict) -> bool:
    return _relation_ok(count_capital_words(t), kw["capital_relation"], kw["capital_frequency"])


def _english_capital(t: str, kw: dict) -> bool:
    return t.isupper() and _detect_language(t) in ("en", None)


def _english_lowercase(t: str, kw: dict) -> bool:
    return t.islower() and _detect_language(t) in ("en", None)


def _no_comma(t: str, kw: dict) -> bool:
    return "," not in t


# id -> (check, {kwarg: type}, {optional kwargs})
_INT, _STR, _REL, _LIST = "int", "str", "relation", "list[str]"
CHECKS: dict[str, tuple[Callable[[str, dict], bool], dict[str, str], set[str]]] = {
    "keywords:existence": (_keywords_existence, {"keywords": _LIST}, set()),
    "keywords:frequency": (
        _keywords_frequency,
        {"keyword": _STR, "frequency": _INT, "relation": _REL},
        set(),
    ),
    "keywords:forbidden_words": (_forbidden_words, {"forbidden_words": _LIST}, set()),
    "keywords:letter_frequency": (
        _letter_frequency,
        {"letter": _STR, "let_frequency": _INT, "let_relation": _REL},
        set(),
    ),
    "language:response_language": (_response_language, {"language": _STR}, set()),
    "length_constraints:number_sentences": (
        _number_sentences,
        {"num_sentences": _INT, "relation": _REL},
        set(),
    ),
    "length_constraints:number_paragraphs": (_number_paragraphs, {"num_paragraphs": _INT}, set()),
    "length_constraints:number_words": (_number_words, {"num_words": _INT, "relation": _REL}, set()),
    "length_constraints:nth_paragraph_first_word": (
        _nth_paragraph_first_word,
        {"num_paragraphs": _INT, "nth_paragraph": _INT, "first_word": _STR},
        set(),
    ),
    "detectable_content:number_placeholders": (_number_placeholders, {"num_placeholders": _INT}, set()),
    "detectable_content:postscript": (_postscript, {"postscript_marker": _STR}, {"postscript_marker"}),
    "detectable_format:number_bullet_lists": (_number_bullet_lists, {"num_bullets": _INT}, set()),
    "detectable_format:constrained_response": (_constrained_response, {}, set()),
    "detectable_format:number_highlighted_sections": (_highlighted_sections, {"num_highlights": _INT}, set()),
    "detectable_format:multiple_sections": (
        _multiple_sections,
        {"section_spliter": _STR, "num_sections": _INT},
        {"section_spliter"},
    ),
    "detectable_format:json_format": (_json_format, {}, set()),
    "detectable_format:title": (_title, {}, set()),
    "combination:two_responses": (_two_responses, {}, set()),
    "combination:repeat_prompt": (_repeat_prompt, {"prompt_to_repeat": _STR}, set()),
    "startend:end_checker": (_end_checker, {"end_phrase": _STR}, set()),
    "startend:quotation": (_quotation, {}, set()),
    "change_case:capital_word_frequency": (
        _capital_word_frequency,
        {"capital_frequency": _INT, "capital_relation": _REL},
        set(),
    ),
    "change_case:english_capital": (_english_capital, {}, set()),
    "change_case:english_lowercase": (_english_lowercase, {}, set()),
    "punctuation:no_comma": (_no_comma, {}, set()),
}


# ---- the "natural" convention: Ring's earlier counting, kept behind convention="natural" -----------


def _natural_words(text: str) -> list[str]:
    """Words with their contractions kept whole ("you're" is one word)."""
    return re.findall(r"\b\w+(?:['’]\w+)*\b", text)


_ABBREV = r"(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|U\.S|No|Inc|Ltd|Co)"


def count_sentences_natural(text: str) -> int:
    """Sentences: runs ending in ``.``/``!``/``?`` followed by space; common abbreviations (``e.g.``)
    and decimals (``3.14``) do not end a sentence, a numbered list marker (``1.``) does."""
    protected = re.sub(rf"\b{_ABBREV}\.", lambda m: m.group(0).replace(".", "<dot>"), text)
    protected = re.sub(r"(?<=\d)\.(?=\d)", "<dot>", protected)
    parts = [p for p in re.split(r"(?<=[.!?])[\"')\]]*\s+", protected.strip()) if p.strip()]
    return len(parts)


def _natural_number_sentences(t: str, kw: dict) -> bool:
    return _relation_ok(count_sentences_natural(t), kw["relation"], kw["num_sentences"])


def _natural_number_words(t: str, kw: dict) -> bool:
    return _relation_ok(len(_natural_words(t)), kw["relation"], kw["num_words"])


def _natural_nth_paragraph_first_word(t: str, kw: dict) -> bool:
    """Paragraphs split at any blank line; the first word skips markdown and stops at punctuation
    ("**Summary:**" starts with "summary")."""
    paras = [p for p in re.split(r"\n\s*\n", t) if p.strip()]
    nth = kw["nth_paragraph"]
    if len(paras) != kw["num_paragraphs"] or not 1 <= nth <= len(paras):
        return False
    first = re.match(r"\W*(\w+)", paras[nth - 1].lstrip())
    return bool(first) and first.group(1).lower() == kw["first_word"].lower()


def _natural_capital_word_frequency(t: str, kw: dict) -> bool:
    n = sum(1 for w in _natural_words(t) if w.isupper())
    return _relation_ok(n, kw["capital_relation"], kw["capital_frequency"])


NATURAL_CHECKS: dict[str, Callable[[str, dict], bool]] = {
    "length_constraints:number_sentences": _natural_number_sentences,
    "length_constraints:number_words": _natural_number_words,
    "length_constraints:nth_paragraph_first_word": _natural_nth_paragraph_first_word,
    "change_case:capital_word_frequency": _natural_capital_word_frequency,
}


def _kwarg_error(name: str, kind: str, value: Any) -> str | None:
    if kind == _INT:
        ok = type(value) is int and value >= 0
    elif kind == _STR:
        ok = isinstance(value, str) and value != ""
    elif kind == _REL:
        ok = value in RELATIONS
    else:
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    if ok and name == "letter" and len(value) != 1:
        ok = False
    return (
        None if ok else f"kwarg {name}={value!r} must be {kind if kind != _REL else ' or '.join(RELATIONS)}"
    )


def parse_instructions(reference: Any) -> list[tuple[str, dict[str, Any]]]:
    """[(id, kwargs)] from either reference shape; ValueError naming the first problem."""
    if not isinstance(reference, dict):
        raise ValueError("ifeval reference must be an object with 'instructions'")
    if "instructions" in reference:
        items = reference["instructions"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError("'instructions' must be a list of {id, kwargs} objects")
        pairs = [(i.get("id"), i.get("kwargs") or {}) for i in items]
    elif "instruction_id_list" in reference:
        ids, kwargs = reference["instruction_id_list"], reference.get("kwargs") or []
        if not kwargs and isinstance(ids, list):
            kwargs = [{}] * len(ids)
        if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
            raise ValueError("'instruction_id_list' and 'kwargs' must be lists of the same length")
        pairs = [(i, k or {}) for i, k in zip(ids, kwargs, strict=True)]
    else:
        raise ValueError("ifeval reference must have 'instructions'")
    if not pairs:
        raise ValueError("no instructions")
    out: list[tuple[str, dict[str, Any]]] = []
    for n, (iid, kw) in enumerate(pairs):
        if not isinstance(iid, str) or iid not in CHECKS:  # a list id is unhashable: no lookup
            raise ValueError(f"instruction {n}: unknown id {iid!r}")
        if not isinstance(kw, dict):
            raise ValueError(f"instruction {n} ({iid}): kwargs must be an object")
        _, spec, optional = CHECKS[iid]
        kw = {k: v for k, v in kw.items() if v is not None}
        extra = set(kw) - set(spec)
        if extra:
            raise ValueError(f"instruction {n} ({iid}): unexpected kwargs {sorted(extra)}")
        for name, kind in spec.items():
            if name not in kw:
                if name in optional:
                    continue
                raise ValueError(f"instruction {n} ({iid}): missing kwarg {name!r}")
            err = _kwarg_error(name, kind, kw[name])
            if err:
                raise ValueError(f"instruction {n} ({iid}): {err}")
        out.append((iid, kw))
    return out


def _loose_variants(text: str) -> list[str]:
    lines = text.split("\n")
    bases = [
        text,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return [v for b in bases for v in (b, b.replace("*", ""))]


def _require_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")


def follows(
    text: str, iid: str, kwargs: dict[str, Any], *, loose: bool = False, convention: str = "official"
) -> bool:
    """Does ``text`` follow instruction ``iid`` with ``kwargs``? (Strict unless ``loose``; counted as
    the official checker does unless ``convention="natural"``.)"""
    _require_convention(convention)
    check = NATURAL_CHECKS[iid] if convention == "natural" and iid in NATURAL_CHECKS else CHECKS[iid][0]
    variants = _loose_variants(text) if loose else [text]
    return any(v.strip() and check(v, kwargs) for v in variants)


@register("ifeval")
def verify_ifeval(
    response: str, reference: Any, *, loose: bool = False, convention: str = "official", **_ignored: Any
) -> VerifyResult:
    """Options: ``loose`` (IFEval's loose metric), ``convention`` ("official", or "natural" for Ring's
    earlier word, sentence and first-word counting); an unknown convention is a ValueError."""
    _require_convention(convention)
    try:
        instructions = parse_instructions(reference)
    except ValueError as e:
        return invalid_reference(f"Unusable ifeval reference: {e}.")
    text = split_reasoning(response)
    if text is None:
        return VerifyResult.make(Status.NO_ANSWER, reason="the reasoning block was never closed")
    text = text.strip()
    if not text:
        return VerifyResult.make(Status.NO_ANSWER, reason="nothing follows the reasoning block")
    if len(text) > MAX_RESPONSE_CHARS:
        return VerifyResult.make(Status.WRONG, reason=f"response longer than {MAX_RESPONSE_CHARS} characters")
    met = [follows(text, iid, kw, loose=loose, convention=convention) for iid, kw in instructions]
    n_ok = sum(met)
    per = [{"id": iid, "followed": ok} for (iid, _), ok in zip(instructions, met, strict=True)]
    missed = [iid for (iid, _), ok in zip(instructions, met, strict=True) if not ok]
    reason = f"{n_ok}/{len(met)} instructions followed" + (
        f" (missed: {', '.join(missed)})" if missed else ""
    )
    return VerifyResult.make(
        Status.CORRECT if n_ok == len(met) else Status.WRONG,
        score=n_ok / len(met),
        extracted=text[:300],
        reason=reason,
        instructions=per,
        fraction=n_ok / len(met),
        mode="loose" if loose else "strict",
        convention=convention,
    )


@register_reference_check("ifeval")
def check_ifeval_reference(reference: Any, **_ignored: Any) -> ReferenceCheck:
    try:
        instructions = parse_instructions(reference)
    except ValueError as e:
        return ReferenceCheck(False, "invalid_reference", {"error": str(e)})
    return ReferenceCheck(True, "", {"instructions": [iid for iid, _ in instructions]})
