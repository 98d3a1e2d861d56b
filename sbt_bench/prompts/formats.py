"""How an image request becomes the text a vision-language model reads.

`chat_template` uses the checkpoint's own template (what the model was tuned on).
Presets reproduce a paper's exact settings so its numbers can be compared, including
sampling where the paper sampled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import Request
from sbt_bench.prompts.conversations import V0_SYSTEM


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


# LLaVA's `conv_vicuna_v0` (conversation.py), which SBT's evaluation scripts use: a canned
# exchange about renewable energy precedes every question.
_V0_EXAMPLE = (
    ("Human", "What are the key differences between renewable and non-renewable energy sources?"),
    (
        "Assistant",
        (
            "Renewable energy sources are those that can be replenished naturally in a relatively "
            "short amount of time, such as solar, wind, hydro, geothermal, and biomass. "
            "Non-renewable energy sources, on the other hand, are finite and will eventually be "
            "depleted, such as coal, oil, and natural gas. Here are some key differences between "
            "renewable and non-renewable energy sources:\n"
            "1. Availability: Renewable energy sources are virtually inexhaustible, while "
            "non-renewable energy sources are finite and will eventually run out.\n"
            "2. Environmental impact: Renewable energy sources have a much lower environmental "
            "impact than non-renewable sources, which can lead to air and water pollution, "
            "greenhouse gas emissions, and other negative effects.\n"
            "3. Cost: Renewable energy sources can be more expensive to initially set up, but they "
            "typically have lower operational costs than non-renewable sources.\n"
            "4. Reliability: Renewable energy sources are often more reliable and can be used in "
            "more remote locations than non-renewable sources.\n"
            "5. Flexibility: Renewable energy sources are often more flexible and can be adapted "
            "to different situations and needs, while non-renewable sources are more rigid and "
            "inflexible.\n"
            "6. Sustainability: Renewable energy sources are more sustainable over the long term, "
            "while non-renewable sources are not, and their depletion can lead to economic and "
            "social instability.\n"
        ),
    ),
)
_V0_SEP = "###"


def render_llava_v0(processor: Any, request: Request) -> str:
    """`conv_vicuna_v0.get_prompt()` with the image turn appended, as SBT's eval scripts build it.

    Checkpoints trained with `mm_use_im_start_end` have `<im_start>`/`<im_end>` tokens, and
    the image is wrapped in them as LLaVA does.
    """
    image = processor.image_token
    if "<im_start>" in processor.tokenizer.get_vocab():
        image = f"<im_start>{image}<im_end>"
    question = f"{image}\n" * len(request.images) + request.context
    turns = [*_V0_EXAMPLE, ("Human", question)]
    body = "".join(f"{role}: {message}{_V0_SEP}" for role, message in turns)
    return f"{V0_SYSTEM}{_V0_SEP}{body}Assistant:"


PROMPT_FORMATS: Registry[PromptFormat] = Registry("prompt format")
PROMPT_FORMATS.register("chat_template", PromptFormat(render_chat_template))
PROMPT_FORMATS.register("plain", PromptFormat(render_plain))
# The paper's settings (`get_model_output.py` defaults): sampling at temperature 0.2 with
# top-k 50, at most 10 new tokens, stopping at the v0 separator.
PROMPT_FORMATS.register(
    "sbt-paper",
    PromptFormat(render_llava_v0, temperature=0.2, top_k=50, max_new_tokens=10, stop=(_V0_SEP,)),
)
