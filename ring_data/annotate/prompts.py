"""What the model sees for a problem: a per-domain template around ``row["prompt"]`` plus an optional
system prompt. Templates use the literal placeholder ``{prompt}`` (plain replacement, so LaTeX braces
in templates need no escaping); ``{language}`` is filled from a code reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .samplers.base import Prompt

BOXED = "Please reason step by step, and put your final answer within \\boxed{}."
TAGGED = "Please reason step by step, and put your final answer within <answer> </answer> tags."

# math: the Ring-lite instruction (ring-lite-paper.md §3.3.1); other domains: how their verifier finds the answer
DEFAULT_TEMPLATES: dict[str, str] = {
    "math": "{prompt}\n" + BOXED,
    "science": "{prompt}\n" + BOXED,
    "code": "{prompt}\n\nWrite your solution as a complete {language} program in one ```{language} code block.",
    "countdown": "{prompt}\n" + TAGGED,
    "sudoku": "{prompt}\n" + TAGGED,
    "maze": "{prompt}\n" + TAGGED,
    "arc": "{prompt}\n" + TAGGED,
    "knights_knaves": "{prompt}\n" + TAGGED,
    "ifeval": "{prompt}",
}


def render_user_text(row: Mapping[str, Any], templates: Mapping[str, str] | None = None) -> str:
    """The user turn for ``row``: its domain's template (override first, then default, else the bare prompt)."""
    domain = row.get("domain", "")
    template = (templates or {}).get(domain) or DEFAULT_TEMPLATES.get(domain, "{prompt}")
    if "{prompt}" not in template:
        template = "{prompt}\n" + template
    text = template.replace("{prompt}", row["prompt"])
    if "{language}" in text:
        ref = row.get("reference")
        lang = ref.get("language", "python") if isinstance(ref, dict) else "python"
        text = text.replace("{language}", str(lang))
    return text


def build_prompt(
    row: Mapping[str, Any], *, templates: Mapping[str, str] | None = None, system_prompt: str | None = None
) -> Prompt:
    messages = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": render_user_text(row, templates)})
    return Prompt(id=str(row["id"]), messages=tuple(messages))


def parse_template_options(specs: list[str] | None) -> dict[str, str]:
    """``["math=Solve: {prompt}", ...]`` -> ``{"math": "Solve: {prompt}"}``; ``\\n`` escapes become newlines."""
    from ring_data.errors import UserError

    out: dict[str, str] = {}
    for spec in specs or []:
        domain, sep, template = spec.partition("=")
        if not sep or not domain:
            raise UserError(f"--prompt-template expects DOMAIN=TEMPLATE, got {spec!r}")
        out[domain.strip()] = template.replace("\\n", "\n")
    return out
