"""Operations on conversation lists: text-only conversion, seeded sampling, data-type groups."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from sbt_train.data.records import Conversation
from sbt_train.templates import IMAGE_PLACEHOLDER, Turn

DataType = Literal["conversation", "detail", "reasoning"]
DATA_TYPES: tuple[DataType, ...] = ("conversation", "detail", "reasoning")

# The instructions LLaVA sampled for its detailed-description data (LLaVA paper, Table 9);
# conversations are the multi-turn records, and every other single-turn record is reasoning.
DETAIL_PROMPTS = frozenset(
    {
        "describe the following image in detail",
        "provide a detailed description of the given image",
        "give an elaborate explanation of the image you see",
        "share a comprehensive rundown of the presented image",
        "offer a thorough analysis of the image",
        "explain the various aspects of the image before you",
        "clarify the contents of the displayed image with great detail",
        "characterize the image using a welldetailed description",
        "break down the elements of the image in a detailed manner",
        "walk through the important details of the image",
        "portray the image with a rich descriptive narrative",
        "narrate the contents of the image with precision",
        "analyze the image in a comprehensive and detailed manner",
        "illustrate the image through a descriptive explanation",
        "examine the image closely and share its details",
        "write an exhaustive depiction of the given image",
    }
)


def strip_images(conv: Conversation) -> Conversation:
    """The text-only version of a record: no image, and `<image>` plus its newline removed."""
    turns = tuple(
        Turn(
            t.role,
            t.text.replace(IMAGE_PLACEHOLDER + "\n", "")
            .replace("\n" + IMAGE_PLACEHOLDER, "")
            .replace(IMAGE_PLACEHOLDER, "")
            .strip(),
        )
        for t in conv.turns
    )
    return replace(conv, turns=turns, image=None)


def sample(convs: Sequence[Conversation], n: int | None, seed: int) -> list[Conversation]:
    """`n` records drawn without replacement with a seeded RNG (all of them, in order, if None)."""
    if n is None or n >= len(convs):
        return list(convs)
    picked = sorted(random.Random(seed).sample(range(len(convs)), n))  # noqa: S311 - reproducible, not secret
    return [convs[i] for i in picked]


def data_type(conv: Conversation) -> DataType:
    """Which LLaVA-Instruct group a record comes from (conversation / detail / reasoning)."""
    if len(conv.turns) > 2:  # noqa: PLR2004 - one human/gpt pair is single-turn
        return "conversation"
    question = conv.turns[0].text.replace(IMAGE_PLACEHOLDER, "")
    normalised = re.sub(r"[^a-z ]", "", question.lower()).strip()
    return "detail" if normalised in DETAIL_PROMPTS else "reasoning"


def split_by_type(convs: Sequence[Conversation]) -> dict[DataType, list[Conversation]]:
    """Group records by LLaVA data type, keeping file order inside each group."""
    groups: dict[DataType, list[Conversation]] = {t: [] for t in DATA_TYPES}
    for conv in convs:
        groups[data_type(conv)].append(conv)
    return groups


def split_by_source(
    by_file: Mapping[Path, Sequence[Conversation]],
) -> dict[DataType, list[Conversation]] | None:
    """Groups from LLaVA's per-type source files, named by file; None unless all are named.

    The files are conversation_58k, detail_23k and complex_reasoning_77k. Grouping by file is
    exact where the prompt heuristic of `data_type` is not: the released detail data asks
    with more phrasings than the paper's list.
    """
    groups: dict[DataType, list[Conversation]] = {t: [] for t in DATA_TYPES}
    for path, convs in by_file.items():
        kind = next((t for t in DATA_TYPES if t in path.name.lower()), None)
        if kind is None:
            return None
        groups[kind].extend(convs)
    return groups
