"""ifeval: every one of the 25 IFEval instruction ids, with a response that follows it and one that does not."""

import pytest

from verifiers import check_reference, verify
from verifiers.ifeval import (
    CHECKS,
    count_capital_words,
    count_sentences,
    count_sentences_natural,
    count_words,
    follows,
    split_sentences,
    verify_ifeval,
)

EN = "The quick brown fox jumps over the lazy dog near the river bank today."

# (id, kwargs, following response, violating response)
CASES = [
    ("keywords:existence", {"keywords": ["Banana", "moon"]}, "A banana on the MOON.", "A banana in space."),
    (
        "keywords:frequency",
        {"keyword": "cat", "frequency": 3, "relation": "at least"},
        "cat cat Cat",
        "cat cat dog",
    ),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "less than"}, "one cat", "cat cat"),
    ("keywords:forbidden_words", {"forbidden_words": ["bad"]}, "It is badly done", "This is Bad."),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 2, "let_relation": "at least"},
        "Zig zag",
        "zig",
    ),
    (
        "language:response_language",
        {"language": "de"},
        "Das ist ein schöner Tag und ich gehe heute nach Hause.",
        EN,
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 3, "relation": "less than"},
        "Dr. Smith paid 3.50 dollars. It was fine.",
        "One. Two. Three. Four.",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "First part.\n***\nSecond part.",
        "Only one.",
    ),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "a\n***\nb\n***\nc", "a\n***\n***\nc"),
    (
        "length_constraints:number_words",
        {"num_words": 5, "relation": "at least"},
        "one two three four five",
        "one two three four",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "Then"},
        "Start here.\n\nThen, we go.",
        "Start here.\n\nNow we go.",
    ),
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "Hi [name] at [address]",
        "Hi [name]",
    ),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.S."},
        "Body.\n\nP.S. see you",
        "Body. PS later",
    ),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.P.S"},
        "Body.\nP.P.S more",
        "Body.\nP.S. more",
    ),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two", "* one\n* two\n- three"),
    ("detectable_format:constrained_response", {}, "Well. My answer is yes.", "Yes, definitely."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*a* and **b**", "*a* and * *"),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1\nx\nSECTION 2\ny",
        "SECTION 1\nx",
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', '{"a": [1, 2]'),
    ("detectable_format:title", {}, "<<My Poem>>\nroses", "<< >> roses"),
    ("combination:two_responses", {}, "First take.\n******\nSecond take.", "Same.\n******\nSame."),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a poem."},
        "write a poem. Roses are red.",
        "Roses are red. Write a poem.",
    ),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Done. any other questions?  ", "Bye."),
    ("startend:quotation", {}, '"wrapped in quotes"', 'not "wrapped"'),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "Only ONE shout",
        "TWO LOUD words",
    ),
    ("change_case:english_capital", {}, EN.upper(), EN),
    ("change_case:english_lowercase", {}, EN.lower(), EN),
    ("punctuation:no_comma", {}, "No commas here", "Yes, one"),
]


def test_every_ifeval_instruction_id_is_covered():
    assert len(CHECKS) == 25
    assert {c[0] for c in CASES} == set(CHECKS)


@pytest.mark.parametrize("iid,kwargs,good,bad", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_instruction_followed_and_violated(iid, kwargs, good, bad):
    assert follows(good, iid, kwargs)
    assert not follows(bad, iid, kwargs)


def test_score_is_fraction_and_correct_only_when_all_met():
    ref = {
        "instructions": [
            {"id": "punctuation:no_comma", "kwargs": {}},
            {"id": "change_case:english_lowercase", "kwargs": {}},
            {"id": "startend:end_checker", "kwargs": {"end_phrase": "bye"}},
        ]
    }
    r = verify_ifeval("<think>plan, then write</think>hello there my friend, bye", ref)
    assert r.status == "wrong" and r.score == pytest.approx(2 / 3) and not r.correct
    assert [i["followed"] for i in r.details["instructions"]] == [False, True, True]
    r = verify_ifeval("<think>x, y</think>hello there my friend bye", ref)
    assert r.correct and r.score == 1.0  # the comma inside the reasoning does not count


def test_unclosed_think_and_empty_answer_are_no_answer():
    ref = {"instructions": [{"id": "punctuation:no_comma", "kwargs": {}}]}
    assert verify_ifeval("<think>still thinking", ref).status == "no_answer"
    assert verify_ifeval("<think>done</think>   ", ref).status == "no_answer"


def test_loose_mode_forgives_a_preamble_line_and_markdown():
    kw = {"end_phrase": "Is there anything else?"}
    text = "**Final**\nAll set. Is there anything else?\n*Note: generated*"
    assert not follows(text, "startend:end_checker", kw)
    assert follows(text, "startend:end_checker", kw, loose=True)
    ref = {"instructions": [{"id": "startend:end_checker", "kwargs": kw}]}
    assert verify_ifeval(text, ref, loose=True).correct


def test_ifeval_dataset_shape_with_none_kwargs_is_accepted():
    ref = {
        "instruction_id_list": ["punctuation:no_comma", "keywords:existence"],
        "kwargs": [{"keywords": None}, {"keywords": ["tea"], "num_words": None}],
    }
    assert check_reference(ref, "ifeval").ok
    assert verify("Green tea please", ref, "ifeval").correct


@pytest.mark.parametrize(
    "ref,needle",
    [
        ({"instructions": [{"id": "keywords:teleport", "kwargs": {}}]}, "unknown id"),
        (
            {"instructions": [{"id": "keywords:frequency", "kwargs": {"keyword": "a", "frequency": 2}}]},
            "relation",
        ),
        (
            {
                "instructions": [
                    {"id": "keywords:frequency", "kwargs": {"keyword": "a", "frequency": 2, "relation": "~"}}
                ]
            },
            "relation",
        ),
        ({"instructions": [{"id": "punctuation:no_comma", "kwargs": {"bogus": 1}}]}, "unexpected"),
        ({"instructions": []}, "no instructions"),
        ("keywords:existence", "object"),
    ],
)
def test_bad_references_are_rejected_with_evidence(ref, needle):
    chk = check_reference(ref, "ifeval")
    assert not chk.ok and chk.reason == "invalid_reference" and needle in chk.evidence["error"]
    assert verify_ifeval("anything", ref).status == "invalid_reference"


def test_sentence_counter_handles_abbreviations_and_decimals():
    # as the official checker (Punkt): "Mr." and "2.5" do not end a sentence, "e.g." does
    assert count_sentences("Mr. Lee paid 2.5 dollars, e.g. for tea. Then he left!") == 3
    assert count_sentences("Why? Because. OK") == 3
    # the natural convention also knows e.g., i.e., etc.
    assert count_sentences_natural("Mr. Lee paid 2.5 dollars, e.g. for tea. Then he left!") == 2
    assert count_sentences_natural("Why? Because. OK") == 3


# ---- official conventions (the official IFEval checker), and the natural ones kept behind an option ----

NUMBERED = "1. affordable solar kits for homes\n2. mobile health clinics\n3. clean water for villages"


def test_numbered_list_items_are_not_sentences():
    assert count_sentences(NUMBERED) == 1  # "1." before a lower-case word: no sentence end (Punkt)
    assert count_sentences("1. Solar kits\n2. Mobile clinics") == 3  # before a capital it is: "1." alone
    assert count_sentences_natural(NUMBERED) == 4  # "1." + three items
    kw = {"num_sentences": 2, "relation": "less than"}
    assert follows(NUMBERED, "length_constraints:number_sentences", kw)
    assert not follows(NUMBERED, "length_constraints:number_sentences", kw, convention="natural")


def test_sentence_split_follows_punkt_on_quotes_initials_and_abbreviations():
    assert split_sentences('He asked "why?" and left. Then we ate.') == [
        'He asked "why?"',
        "and left.",
        "Then we ate.",
    ]
    assert split_sentences("Plan B. The rest waits. Dr. Smith agrees.") == [
        "Plan B.",
        "The rest waits.",
        "Dr. Smith agrees.",
    ]
    assert count_sentences("Wait... So we go. Fine!!! Done.") == 4  # "So" starts a sentence after "..."
    assert count_sentences("Wait... we go.") == 1


def test_contractions_are_two_words():
    assert count_words("you're right, it's fine") == 6  # you re right it s fine
    kw = {"num_words": 6, "relation": "at least"}
    assert follows("you're right, it's fine", "length_constraints:number_words", kw)
    assert not follows("you're right, it's fine", "length_constraints:number_words", kw, convention="natural")


def test_capital_words_are_counted_on_nltk_style_tokens():
    assert count_capital_words("I DON'T KNOW") == 4  # I, DO, N'T, KNOW
    assert count_capital_words("THE U.S. AND AI-DRIVEN TOOLS") == 5  # "U.S." and "AI-DRIVEN" are one each
    assert count_capital_words("NASA's rocket (ESA) **WOW**") == 3  # NASA 's / ( ESA ) / * * WOW * *
    kw = {"capital_frequency": 4, "capital_relation": "at least"}
    assert follows("I DON'T KNOW", "change_case:capital_word_frequency", kw)
    assert not follows("I DON'T KNOW", "change_case:capital_word_frequency", kw, convention="natural")


def test_first_word_keeps_colon_and_markdown():
    kw = {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "summary"}
    iid = "length_constraints:nth_paragraph_first_word"
    for text in ("Intro.\n\nSummary: all good.", "Intro.\n\n**Summary** all good."):
        assert not follows(text, iid, kw)  # the official first word is "summary:" / "**summary**"
        assert follows(text, iid, kw, convention="natural")
    assert follows("Intro.\n\nSummary, all good.", iid, kw)  # cut at . , ? ! ' "


def test_paragraphs_for_first_word_are_split_at_exactly_two_newlines():
    kw = {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"}
    iid = "length_constraints:nth_paragraph_first_word"
    assert not follows("Start.\n \nThen go.", iid, kw)  # "\n \n" is no paragraph break officially
    assert follows("Start.\n \nThen go.", iid, kw, convention="natural")


def test_end_phrase_may_be_followed_by_the_closing_quote():
    kw = {"end_phrase": "Any other questions?"}
    assert follows('"Here it is. Any other questions?"', "startend:end_checker", kw)


def test_keyword_frequency_ignores_spaces_around_the_keyword():
    kw = {"keyword": " cat ", "frequency": 2, "relation": "at least"}
    assert follows("cat and cat", "keywords:frequency", kw)


def test_convention_option_reaches_the_verifier_and_is_checked():
    ref = {
        "instructions": [
            {"id": "length_constraints:number_words", "kwargs": {"num_words": 3, "relation": "less than"}}
        ]
    }
    assert not verify("don't stop", ref, "ifeval").correct  # do n t stop: 4 words
    r = verify("don't stop", ref, "ifeval", convention="natural")
    assert r.correct and r.details["convention"] == "natural"
    with pytest.raises(ValueError, match="convention"):
        verify_ifeval("don't stop", ref, convention="nltk")


def test_huge_response_is_wrong_not_slow():
    ref = {"instructions": [{"id": "keywords:existence", "kwargs": {"keywords": ["x"]}}]}
    r = verify("a " * 600_000, ref, "ifeval", timeout=5)
    assert r.status == "wrong"
