"""Conversation templates rendered as segments marked supervised or not.

The strings reproduce LLaVA's `conversation.py` / `train.py` (v1.0.1, the commit SBT forked from)
character for character; what is supervised is declared per segment instead of being recovered
later by token-length arithmetic, which is what silently masked whole samples in the original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from sbt_bench.core.errors import SbtError
from sbt_bench.prompts.conversations import V0_SYSTEM

IMAGE_PLACEHOLDER = "<image>"
Role = Literal["human", "gpt"]


class SepStyle(Enum):
    """How turns are joined; one value per LLaVA `SeparatorStyle` that SBT used."""

    PLAIN = "plain"
    V0 = "v0"
    TWO = "two"
    LLAMA_2 = "llama_2"


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation; `role` is LLaVA's `from` field."""

    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of the rendered sample; `supervised` pieces are the only ones in the loss."""

    text: str
    supervised: bool


@dataclass(frozen=True, slots=True)
class Template:
    """A LLaVA conversation template."""

    name: str
    style: SepStyle
    system: str = ""
    roles: tuple[str, str] = ("", "")


_VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
LLAMA_2_SYSTEM = (
    "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, "
    "while being safe.  Your answers should not include any harmful, unethical, racist, sexist, "
    "toxic, dangerous, or illegal content. Please ensure that your responses are socially "
    "unbiased and positive in nature.\n\nIf a question does not make any sense, or is not "
    "factually coherent, explain why instead of answering something not correct. If you don't "
    "know the answer to a question, please don't share false information."
)
LLAVA_LLAMA_2_SYSTEM = (
    "You are a helpful language and vision assistant. You are able to understand the visual "
    "content that the user provides, and assist the user with a variety of tasks using natural "
    "language."
)

TEMPLATES: dict[str, Template] = {
    "plain": Template("plain", SepStyle.PLAIN),
    "v0": Template("v0", SepStyle.V0, V0_SYSTEM, ("Human", "Assistant")),
    "vicuna_v1": Template("vicuna_v1", SepStyle.TWO, _VICUNA_SYSTEM, ("USER", "ASSISTANT")),
    "llama_2": Template("llama_2", SepStyle.LLAMA_2, LLAMA_2_SYSTEM, ("USER", "ASSISTANT")),
    "llava_llama_2": Template(
        "llava_llama_2", SepStyle.LLAMA_2, LLAVA_LLAMA_2_SYSTEM, ("USER", "ASSISTANT")
    ),
}


def get_template(name: str) -> Template:
    """The template called `name`, or a one-line error listing the known ones."""
    if name not in TEMPLATES:
        raise SbtError(f"unknown template {name!r}; use one of {', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def move_image_first(text: str) -> str:
    r"""LLaVA's `preprocess_multimodal`: a turn with `<image>` becomes `<image>\n` + the rest."""
    if IMAGE_PLACEHOLDER not in text:
        return text
    return IMAGE_PLACEHOLDER + "\n" + text.replace(IMAGE_PLACEHOLDER, "").strip()


def render(
    template: Template, turns: tuple[Turn, ...], *, bos: str = "<s>", eos: str = "</s>"
) -> tuple[Segment, ...]:
    """Render alternating human/gpt `turns` as segments whose concatenation is LLaVA's text.

    `bos`/`eos` default to LLaMA's strings (what LLaVA hard-codes); pass the tokenizer's own so
    that a non-LLaMA model learns to emit its real end-of-sequence token.

    Example:
        >>> segs = render(TEMPLATES["vicuna_v1"], (Turn("human", "Hi"), Turn("gpt", "Hello")))
        >>> "".join(s.text for s in segs if s.supervised)
        ' Hello</s>'
    """
    _check_alternation(turns)
    turns = tuple(Turn(t.role, move_image_first(t.text)) for t in turns)
    if template.style is SepStyle.PLAIN:
        return _render_plain(turns)
    if template.style is SepStyle.V0:
        return _render_v0(template, turns)
    if template.style is SepStyle.TWO:
        return _render_two(template, turns, eos)
    return _render_llama_2(template, turns, bos, eos)


def _check_alternation(turns: tuple[Turn, ...]) -> None:
    if not turns or len(turns) % 2:
        raise ValueError(f"a conversation needs human/gpt pairs, got {len(turns)} turns")
    for i, turn in enumerate(turns):
        expected = "human" if i % 2 == 0 else "gpt"
        if turn.role != expected:
            raise ValueError(f"turn {i} is from {turn.role!r}, expected {expected!r}")


def _render_plain(turns: tuple[Turn, ...]) -> tuple[Segment, ...]:
    # preprocess_plain: the human instruction is replaced by the bare image; caption + "\n"
    # is the target (no EOS: LLaVA pre-training never taught the model to stop).
    if len(turns) != 2:  # noqa: PLR2004 - plain is one (image, caption) pair by definition
        raise ValueError(f"the plain template takes one human/gpt pair, got {len(turns)} turns")
    head = IMAGE_PLACEHOLDER if IMAGE_PLACEHOLDER in turns[0].text else ""
    segments = [Segment(head, supervised=False)] if head else []
    segments.append(Segment(turns[1].text + "\n", supervised=True))
    return tuple(segments)


def _render_v0(template: Template, turns: tuple[Turn, ...]) -> tuple[Segment, ...]:
    # train.py's `_add_speaker_and_signal`: "### Role: value\n" per turn, then a trailing "### ",
    # which is the v0 stop signal and therefore supervised.
    human, assistant = template.roles
    segments = [Segment(template.system + "\n\n", supervised=False)]
    for turn in turns:
        if turn.role == "human":
            segments.append(Segment(f"### {human}: {turn.text}\n", supervised=False))
        else:
            segments.append(Segment(f"### {assistant}: ", supervised=False))
            segments.append(Segment(turn.text + "\n", supervised=True))
    segments.append(Segment("### ", supervised=True))
    return tuple(segments)


def _render_two(template: Template, turns: tuple[Turn, ...], eos: str) -> tuple[Segment, ...]:
    # "{system} USER: q ASSISTANT: a</s>USER: ..."; the answer keeps its leading space because
    # SentencePiece folds it into the answer's first token.
    user, assistant = template.roles
    segments = [Segment(template.system + " ", supervised=False)]
    for human, gpt in zip(turns[::2], turns[1::2], strict=True):
        segments.append(Segment(f"{user}: {human.text} {assistant}:", supervised=False))
        segments.append(Segment(f" {gpt.text}{eos}", supervised=True))
    return tuple(segments)


def _render_llama_2(
    template: Template, turns: tuple[Turn, ...], bos: str, eos: str
) -> tuple[Segment, ...]:
    # Rounds are "[INST] q [/INST] a </s>" joined by <s>, the system prompt inside the first;
    # the very first <s> is left to the tokenizer (LLaVA lstrips it from the string).
    segments: list[Segment] = []
    for i, (human, gpt) in enumerate(zip(turns[::2], turns[1::2], strict=True)):
        question = human.text
        if i == 0:
            question = f"<<SYS>>\n{template.system}\n<</SYS>>\n\n{question}"
        prefix = bos if i else ""
        segments.append(Segment(f"{prefix}[INST] {question} [/INST]", supervised=False))
        segments.append(Segment(f" {gpt.text} {eos}", supervised=True))
    return tuple(segments)


def render_text(segments: tuple[Segment, ...]) -> str:
    """The full sample text, as LLaVA's `get_prompt()` would give it."""
    return "".join(s.text for s in segments)


# Stands in for the question while the template is rendered into a chat template.
_QUESTION = "\ue000"


def chat_template_for(template: Template, image: str = IMAGE_PLACEHOLDER) -> str:
    """A Jinja chat template that prompts exactly as `template` trained the model.

    Saved with every checkpoint, so `sbt-bench` (and any chat-template-aware server) asks
    the model in the layout it learned. Single-turn: the user's images (each as `<image>`
    on its own line, as LLaVA places them) then the text, up to the assistant cue.
    `image` is what stands for a picture (LLaVA checkpoints trained with
    `mm_use_im_start_end` wrap it as `<im_start><image><im_end>`).
    """
    images = (
        "{% for item in message['content'] %}{% if item['type'] == 'image' %}"
        + _literal(image if template.style is SepStyle.PLAIN else image + "\n")
        + "{% endif %}{% endfor %}"
    )
    text = (
        "{% for item in message['content'] %}{% if item['type'] == 'text' %}"
        "{{ item['text'] }}{% endif %}{% endfor %}"
    )
    if template.style is SepStyle.PLAIN:
        before, after, question = "", "", images  # pre-training saw the image alone
    else:
        segments = render(template, (Turn("human", _QUESTION), Turn("gpt", "")), bos="", eos="")
        prompt = "".join(s.text for s in _until_supervised(segments))
        before, _, after = prompt.partition(_QUESTION)
        question = images + text
    user = (
        "{% for message in messages %}{% if message['role'] == 'user' %}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        + question
        + "{% endif %}{% endif %}{% endfor %}"
    )
    return _literal(before) + user + _literal(after)


def _until_supervised(segments: tuple[Segment, ...]) -> list[Segment]:
    head = []
    for segment in segments:
        if segment.supervised:
            break
        head.append(segment)
    return head


def _literal(text: str) -> str:
    """`text` as a Jinja expression (JSON string escapes are valid Jinja string escapes)."""
    return "{{ " + json.dumps(text) + " }}" if text else ""
