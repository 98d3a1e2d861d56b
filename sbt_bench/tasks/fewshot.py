"""Few-shot examples, system instructions and chat turns, exactly as lm-eval 0.4 builds them.

lm-eval's `fewshot_context` builds a list of messages (system, then per example a user
turn with the example's text and an assistant turn with its answer, then the item); as
plain text they are joined with the target delimiter after each question and the
few-shot delimiter after each answer, and with a chat template they go one turn each
(`fewshot_as_multiturn`) or collapsed into one user turn. Examples are drawn with one
`random.Random(seed)` per task, item after item in file order, as its sampler does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

FEWSHOT_DELIMITER = "\n\n"


@dataclass(frozen=True)
class Shot:
    """A solved example: the text the model would read and the answer that follows it."""

    text: str
    answer: str


@dataclass(frozen=True)
class Message:
    """One turn; `delimiter` follows it when the turns are joined as plain text."""

    role: str
    content: str
    delimiter: str = ""


def draw_shots(pool_size: int, n: int, n_items: int, seed: int) -> list[list[int]]:
    """Pool indices of the `n` examples of each of the first `n_items` items.

    One generator serves the items in order, so an item's examples do not depend on
    `--limit`. `random.sample` picks by position, so sampling indices draws what sampling
    the records themselves draws.
    """
    rnd = random.Random(seed)  # noqa: S311 - reproducing lm-eval's draws, not security
    return [rnd.sample(range(pool_size), n) for _ in range(n_items)]


def build_messages(
    question: str, shots: Sequence[Shot], system: str | None, target_delimiter: str
) -> list[Message]:
    """The item's turns: system (if any), each example's question and answer, the question."""
    messages = [Message("system", system)] if system else []
    for shot in shots:
        messages.append(Message("user", shot.text, target_delimiter))
        messages.append(Message("assistant", shot.answer, FEWSHOT_DELIMITER))
    messages.append(Message("user", question))
    return messages


def join_as_text(messages: Sequence[Message]) -> str:
    """The plain-text prompt (no chat template)."""
    return "".join(m.content + m.delimiter for m in messages)


def as_chat(messages: Sequence[Message], *, multiturn: bool) -> list[dict[str, str]]:
    """Chat turns for a template: one per message, or the non-system ones joined into one."""
    if multiturn:
        return [{"role": m.role, "content": m.content} for m in messages]
    system = [m for m in messages[:1] if m.role == "system"]
    rest = list(messages[len(system) :])
    # The question ends the prompt: nothing follows it in the collapsed user turn.
    collapsed = join_as_text([*rest[:-1], Message(rest[-1].role, rest[-1].content)])
    return [
        *({"role": "system", "content": m.content} for m in system),
        {"role": "user", "content": collapsed},
    ]
