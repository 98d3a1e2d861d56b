"""Image prompt layouts: the checkpoint's chat template and the paper's LLaVA v0 preset."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoProcessor

from sbt_bench.core.types import Request
from sbt_bench.prompts.formats import PROMPT_FORMATS

REQUEST = Request("generate", "Is there a cat? Please answer yes or no.", images=("/x.jpg",))


def test_chat_template_puts_the_image_before_the_question(tiny_llava: Path) -> None:
    """The default format renders the checkpoint's own template with the image placeholder."""
    processor = AutoProcessor.from_pretrained(tiny_llava)
    prompt = PROMPT_FORMATS.get("chat_template").render(processor, REQUEST)
    assert prompt == "USER: <image>\nIs there a cat? Please answer yes or no.\nASSISTANT:"


def test_sbt_paper_preset_is_llava_conv_vicuna_v0(tiny_llava: Path) -> None:
    """The paper's prompt: v0 system, the canned energy exchange, then the image turn, '###'."""
    processor = AutoProcessor.from_pretrained(tiny_llava)
    fmt = PROMPT_FORMATS.get("sbt-paper")
    prompt = fmt.render(processor, REQUEST)
    assert prompt.startswith(
        "A chat between a curious human and an artificial intelligence assistant. The assistant "
        "gives helpful, detailed, and polite answers to the human's questions.###Human: What are "
        "the key differences between renewable and non-renewable energy sources?###Assistant: "
        "Renewable energy sources are those"
    )
    assert prompt.endswith(
        "economic and social instability.\n###Human: <image>\n"
        "Is there a cat? Please answer yes or no.###Assistant:"
    )
    assert (fmt.temperature, fmt.top_k, fmt.max_new_tokens, fmt.stop) == (0.2, 50, 10, ("###",))
