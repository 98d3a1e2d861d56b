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


THINKING_SWITCH = "enable_thinking"


def load_chat_renderer(
    spec: ModelSpec, offline: bool | None = None, think: bool | None = None
) -> ChatRenderer:
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
    if think is not None and THINKING_SWITCH not in str(tokenizer.chat_template):
        raise SbtError(
            f"model {spec.name!r}: its chat template has no thinking switch "
            f"({THINKING_SWITCH}); drop --think (or think in its YAML)"
        )
    return lambda messages: render_with(tokenizer, messages, think)


def render_with(
    tokenizer: Any, messages: Sequence[dict[str, str]], think: bool | None = None
) -> str:
    """lm-eval 0.4's `HFLM.apply_chat_template` with `add_generation_prompt=True`.

    A template that rejects the system role is retried without system messages, as there.
    `think` is passed as the template's `enable_thinking` (None: the template's default).
    """
    import jinja2  # noqa: PLC0415 - transformers' own dependency

    switch = {} if think is None else {THINKING_SWITCH: think}
    chat = list(messages)
    try:
        text = tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True, continue_final_message=False, **switch
        )
    except jinja2.exceptions.TemplateError:
        chat = [m for m in chat if m["role"] != "system"]
        text = tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True, continue_final_message=False, **switch
        )
    return str(text)
