"""A model's own chat template as a function, loaded without the model's weights.

Text prompts under `--apply-chat-template` are rendered before any request is made, so
the rendered text is what the response cache is keyed by and what samples files record,
and a fully cached rerun still never loads the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import ModelSpec

ChatRenderer = Callable[[Sequence[dict[str, str]]], str]
_LOCAL_BACKENDS = ("hf", "llava")


def load_chat_renderer(spec: ModelSpec, offline: bool | None = None) -> ChatRenderer:
    """`messages -> prompt` through the checkpoint's template, as lm-eval's HFLM renders it."""
    if spec.backend not in _LOCAL_BACKENDS:
        raise SbtError(
            f"model {spec.name!r}: --apply-chat-template needs a local hf: or llava: model "
            "(a served model applies its own template)"
        )
    from sbt_bench.backends.hf_loading import load_processing  # noqa: PLC0415 - torch

    processing = load_processing(spec, offline=offline)
    tokenizer = getattr(processing, "tokenizer", processing)
    if not getattr(tokenizer, "chat_template", None):
        raise SbtError(
            f"model {spec.name!r}: its tokenizer has no chat template; drop "
            "--apply-chat-template (or apply_chat_template in its YAML)"
        )
    return lambda messages: render_with(tokenizer, messages)


def render_with(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """lm-eval 0.4's `HFLM.apply_chat_template` with `add_generation_prompt=True`.

    A template that rejects the system role is retried without system messages, as there.
    """
    import jinja2  # noqa: PLC0415 - transformers' own dependency

    chat = list(messages)
    try:
        text = tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True, continue_final_message=False
        )
    except jinja2.exceptions.TemplateError:
        chat = [m for m in chat if m["role"] != "system"]
        text = tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True, continue_final_message=False
        )
    return str(text)
