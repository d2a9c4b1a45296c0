"""Prompt encoding and response decoding shared by SFT, rollouts and evaluation."""

from __future__ import annotations


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Chat-templated when the tokenizer has a chat template (instruct models), raw text otherwise."""
    if getattr(tokenizer, "chat_template", None):
        return list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
            )
        )
    return tokenizer(prompt, add_special_tokens=False).input_ids


def decode_response(tokenizer, ids: list[int]) -> str:
    if ids and ids[-1] == tokenizer.eos_token_id:
        ids = ids[:-1]
    return tokenizer.decode(ids, skip_special_tokens=True)
