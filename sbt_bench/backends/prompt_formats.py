"""How an image request becomes the text a vision-language model reads.

`chat_template` uses the checkpoint's own template (what the model was tuned on).
Presets reproduce a paper's exact settings so its numbers can be compared, including
sampling where the paper sampled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sbt_bench.errors import SbtError
from sbt_bench.registry import Registry
from sbt_bench.types import Request


@dataclass(frozen=True)
class PromptFormat:
    """A prompt layout plus the decoding settings that belong with it.

    Attributes:
        build: (processor, request) -> the prompt text, with the processor's image token.
        temperature: 0 decodes greedily; above 0 samples (seeded per request).
        top_k: top-k filter when sampling.
        max_new_tokens: caps every task's budget (None keeps the task's).
        stop: stop strings added to every task's.
    """

    build: Callable[[Any, Request], str]
    temperature: float = 0.0
    top_k: int = 50
    max_new_tokens: int | None = None
    stop: tuple[str, ...] = ()

    def render(self, processor: Any, request: Request) -> str:
        """The prompt text of one request."""
        return self.build(processor, request)


def render_chat_template(processor: Any, request: Request) -> str:
    """One user turn holding the images then the text, and the assistant cue."""
    if not getattr(processor, "chat_template", None):
        raise SbtError(
            "the checkpoint's processor has no chat template; give the model a YAML with "
            "`prompt_format: plain` (or `sbt-paper`)"
        )
    content: list[dict[str, str]] = [{"type": "image"} for _ in request.images]
    content.append({"type": "text", "text": request.context})
    messages = [{"role": "user", "content": content}]
    prompt: str = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    return prompt


def render_plain(processor: Any, request: Request) -> str:
    """The image tokens, a newline, then the text: no conversation around it."""
    return f"{processor.image_token}\n" * len(request.images) + request.context


PROMPT_FORMATS: Registry[PromptFormat] = Registry("prompt format")
PROMPT_FORMATS.register("chat_template", PromptFormat(render_chat_template))
PROMPT_FORMATS.register("plain", PromptFormat(render_plain))
