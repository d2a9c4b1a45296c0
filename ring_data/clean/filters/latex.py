"""``latex``: broken LaTeX (unbalanced braces, an odd number of ``$``, ``\\left`` without ``\\right``,
unmatched ``\\begin``/``\\end``), for the domains that opt in (math, science)."""

from __future__ import annotations

import re
from typing import Any

from .base import Evidence, Settings, register_filter

_CURRENCY = re.compile(r"\$\d[\d,]*(?:\.\d+)?(?=[.,;:!?)]*(?:\s+[^\W\d_]|\s*$))")  # "$40 a day", "$1,200."
_MATH_ENVS = re.compile(r"\\(begin|end)\{([a-zA-Z*]+)\}")


def _may_fail(prompt, answer, settings: Settings):
    t = prompt.str.replace_all(r"\\[\\${}]", "")
    return (
        (t.str.count_matches(r"\{") != t.str.count_matches(r"\}"))
        | (t.str.count_matches(r"\$") % 2 == 1)
        | (t.str.count_matches(r"\\left\b") != t.str.count_matches(r"\\right\b"))
        | t.str.contains(r"\\(?:begin|end)\{")  # environments are checked in order, in Python
    )


@register_filter("latex", domains=(), prefilter=_may_fail, order=40)
def latex(prompt: str, reference: Any, settings: Settings) -> Evidence:
    if "\\" not in prompt and "{" not in prompt and "}" not in prompt and "$" not in prompt:
        return None
    text = re.sub(r"\\[\\${}]", "", prompt)  # escaped characters do not count
    opened, closed = text.count("{"), text.count("}")
    if opened != closed:
        return {"problem": f"{opened} '{{' vs {closed} '}}'"}
    # a currency amount followed by words ("$40 every day") is not math mode
    if _CURRENCY.sub("", text).count("$") % 2:
        return {"problem": "odd number of '$'"}
    lefts, rights = len(re.findall(r"\\left(?![a-z])", text)), len(re.findall(r"\\right(?![a-z])", text))
    if lefts != rights:
        return {"problem": f"{lefts} \\left vs {rights} \\right"}
    stack: list[str] = []
    for kind, env in _MATH_ENVS.findall(text):
        if kind == "begin":
            stack.append(env)
        elif not stack or stack.pop() != env:
            return {"problem": f"\\end{{{env}}} does not close its \\begin"}
    if stack:
        return {"problem": f"\\begin{{{stack[-1]}}} never ends"}
    return None
