from __future__ import annotations

import pytest

from sbt_bench.core.errors import SbtError
from sbt_train.templates import (
    LLAMA_2_SYSTEM,
    LLAVA_LLAMA_2_SYSTEM,
    TEMPLATES,
    Turn,
    get_template,
    render,
    render_text,
)

TWO_ROUNDS = (Turn("human", "Hi"), Turn("gpt", "Hello"), Turn("human", "Q2"), Turn("gpt", "A2"))
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
V0_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)


def supervised(template: str, turns: tuple[Turn, ...]) -> str:
    return "".join(s.text for s in render(TEMPLATES[template], turns) if s.supervised)


class TestGoldenStrings:
    def test_vicuna_v1(self):
        """vicuna_v1 renders exactly LLaVA's SeparatorStyle.TWO prompt."""
        text = render_text(render(TEMPLATES["vicuna_v1"], TWO_ROUNDS))
        assert text == VICUNA_SYSTEM + " USER: Hi ASSISTANT: Hello</s>USER: Q2 ASSISTANT: A2</s>"

    def test_llama_2(self):
        """llama_2 renders Meta's system prompt in [INST] blocks with `<s>` between rounds."""
        text = render_text(render(TEMPLATES["llama_2"], TWO_ROUNDS))
        assert text == (
            f"[INST] <<SYS>>\n{LLAMA_2_SYSTEM}\n<</SYS>>\n\nHi [/INST] Hello </s>"
            "<s>[INST] Q2 [/INST] A2 </s>"
        )
        assert LLAMA_2_SYSTEM.startswith("You are a helpful, respectful and honest assistant.")
        assert "while being safe.  Your answers" in LLAMA_2_SYSTEM  # the double space is Meta's

    def test_llava_llama_2(self):
        """llava_llama_2 is the llama_2 layout with LLaVA's vision-assistant system prompt."""
        text = render_text(render(TEMPLATES["llava_llama_2"], TWO_ROUNDS[:2]))
        assert text == f"[INST] <<SYS>>\n{LLAVA_LLAMA_2_SYSTEM}\n<</SYS>>\n\nHi [/INST] Hello </s>"
        assert LLAVA_LLAMA_2_SYSTEM.startswith("You are a helpful language and vision assistant.")

    def test_v0(self):
        r"""v0 renders train.py's `### Human: ...\\n### Assistant: ...\\n### ` training text."""
        text = render_text(render(TEMPLATES["v0"], TWO_ROUNDS))
        assert text == (
            V0_SYSTEM + "\n\n### Human: Hi\n### Assistant: Hello\n### Human: Q2\n"
            "### Assistant: A2\n### "
        )

    def test_plain_drops_instruction(self):
        """Plain keeps only the image and the caption plus newline, as preprocess_plain does."""
        turns = (Turn("human", "Describe briefly.\n<image>"), Turn("gpt", "A cat."))
        assert render_text(render(TEMPLATES["plain"], turns)) == "<image>A cat.\n"

    def test_image_moved_to_front(self):
        r"""A turn holding `<image>` anywhere becomes `<image>\\n` + the stripped rest."""
        turns = (Turn("human", "What is this?\n<image>"), Turn("gpt", "A cat."))
        text = render_text(render(TEMPLATES["vicuna_v1"], turns))
        assert text == VICUNA_SYSTEM + " USER: <image>\nWhat is this? ASSISTANT: A cat.</s>"

    def test_custom_eos(self):
        """The tokenizer's own eos string replaces `</s>` so any model learns to stop."""
        segs = render(TEMPLATES["llama_2"], TWO_ROUNDS, bos="<|s|>", eos="<|e|>")
        assert render_text(segs).endswith("[/INST] Hello <|e|><|s|>[INST] Q2 [/INST] A2 <|e|>")


class TestSupervision:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("vicuna_v1", " Hello</s> A2</s>"),
            ("llama_2", " Hello </s> A2 </s>"),
            ("llava_llama_2", " Hello </s> A2 </s>"),
            ("v0", "Hello\nA2\n### "),
        ],
    )
    def test_only_answers_and_stop_are_supervised(self, name, expected):
        """Exactly the assistant answers and their stop marker are supervised."""
        assert supervised(name, TWO_ROUNDS) == expected

    def test_plain_supervises_caption_and_newline(self):
        """Plain supervises the caption and its newline but not the image."""
        assert supervised("plain", (Turn("human", "<image>"), Turn("gpt", "A cat."))) == "A cat.\n"

    def test_rejects_bad_order(self):
        """Conversations must alternate human, gpt, ... and end on gpt."""
        with pytest.raises(ValueError, match="expected 'human'"):
            render(TEMPLATES["vicuna_v1"], (Turn("gpt", "x"), Turn("human", "y")))
        with pytest.raises(ValueError, match="pairs"):
            render(TEMPLATES["vicuna_v1"], (Turn("human", "x"),))

    def test_unknown_template(self):
        """An unknown template name is a one-line user error naming the known ones."""
        with pytest.raises(SbtError, match="vicuna_v1"):
            get_template("vicuna")


def test_chat_template_prompts_as_the_template_trained() -> None:
    """The saved Jinja chat template renders the training layout up to the assistant cue."""
    from jinja2 import Environment

    from sbt_train.templates import TEMPLATES, chat_template_for

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi?"}]}]
    env = Environment(trim_blocks=True, lstrip_blocks=True, autoescape=False)
    rendered = {
        name: env.from_string(chat_template_for(t)).render(messages=messages)
        for name, t in TEMPLATES.items()
    }
    assert rendered["plain"] == "<image>"
    assert rendered["vicuna_v1"].endswith("questions. USER: <image>\nHi? ASSISTANT:")
    assert rendered["v0"].endswith("questions.\n\n### Human: <image>\nHi?\n### Assistant: ")
    assert rendered["llama_2"].startswith("[INST] <<SYS>>\n")
    assert rendered["llama_2"].endswith("<</SYS>>\n\n<image>\nHi? [/INST]")
