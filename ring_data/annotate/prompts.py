"""What the model sees for a problem: a per-domain template around ``row["prompt"]`` plus an optional
system prompt. Templates use the literal placeholder ``{prompt}`` (plain replacement, so LaTeX braces
in templates need no escaping); ``{language}`` is filled from a code reference. A domain's default
template is registered with it (``verifiers.DomainInfo``: math and science ask for Ring-lite's
``\\boxed{}`` instruction, games for ``<answer>`` tags, code for one fenced block).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from verifiers import domain_info, domains

from .samplers.base import Prompt

BARE = "{prompt}"


def default_template(domain: str) -> str:
    """The registered default template of ``domain``; the bare prompt for a domain nobody registered."""
    try:
        return domain_info(domain).template
    except ValueError:
        return BARE


class _RegisteredTemplates(Mapping[str, str]):
    """Every known domain's default template, read from the registry when asked (a mapping view for
    callers that index templates by domain)."""

    def __getitem__(self, domain: str) -> str:
        try:
            return domain_info(domain).template
        except ValueError:
            raise KeyError(domain) from None

    def __iter__(self) -> Iterator[str]:
        return iter(domains())

    def __len__(self) -> int:
        return len(domains())


DEFAULT_TEMPLATES: Mapping[str, str] = _RegisteredTemplates()


def render_user_text(row: Mapping[str, Any], templates: Mapping[str, str] | None = None) -> str:
    """The user turn for ``row``: its domain's template (override first, then the registered default)."""
    domain = row.get("domain", "")
    template = (templates or {}).get(domain) or default_template(domain)
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
