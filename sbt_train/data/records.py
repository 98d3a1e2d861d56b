"""Parse instruction files (LLaVA, Alpaca, Orca, LRV) into validated `Conversation`s.

Every format is converted to LLaVA's `{"id", "image"?, "conversations": [{"from", "value"}]}`
shape; records that cannot be trained on are counted with their ids instead of crashing a
long run halfway, and `strict` turns the first one into an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json, read_json_lines
from sbt_train.templates import IMAGE_PLACEHOLDER, Turn

Format = Literal["llava", "alpaca", "orca", "lrv"]
FORMATS: tuple[Format, ...] = ("llava", "alpaca", "orca", "lrv")
_ROLES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt"}
_MAX_IDS_SHOWN = 10

ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"
)


@dataclass(frozen=True, slots=True)
class Conversation:
    """One training record: alternating human/gpt turns and an optional image file name."""

    id: str
    turns: tuple[Turn, ...]
    image: str | None = None

    def to_json(self) -> dict[str, Any]:
        """LLaVA's JSON shape."""
        out: dict[str, Any] = {"id": self.id}
        if self.image is not None:
            out["image"] = self.image
        out["conversations"] = [{"from": t.role, "value": t.text} for t in self.turns]
        return out


@dataclass(frozen=True, slots=True)
class LoadReport:
    """How many records were read and which were rejected, by reason."""

    n_read: int
    bad: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def n_bad(self) -> int:
        """Rejected records over all reasons."""
        return sum(len(ids) for ids in self.bad.values())

    def summary(self) -> str:
        """One line per reason, with the first few ids."""
        lines = [f"{self.n_read} records read, {self.n_bad} rejected"]
        for reason, ids in sorted(self.bad.items()):
            shown = ", ".join(ids[:_MAX_IDS_SHOWN]) + (" ..." if len(ids) > _MAX_IDS_SHOWN else "")
            lines.append(f"  {reason}: {len(ids)} ({shown})")
        return "\n".join(lines)


class BadRecordError(ValueError):
    """A record that cannot become a Conversation; the message is the reason."""


def load_records(
    path: Path,
    fmt: Format,
    *,
    image_dir: Path | None = None,
    strict: bool = False,
) -> tuple[list[Conversation], LoadReport]:
    """Read `path` (JSON list or JSONL) in format `fmt` into conversations plus a report.

    Args:
        path: the data file.
        fmt: one of FORMATS.
        image_dir: when given, records whose image file is missing there are rejected.
        strict: raise SbtError on the first bad record instead of counting it.
    """
    convert = _CONVERTERS[fmt]
    good: list[Conversation] = []
    bad: dict[str, list[str]] = {}
    raw = read_json_records(path)
    for i, record in enumerate(raw):
        rid = _record_id(record, i)
        try:
            conv = convert(record, rid)
            _validate(conv, image_dir)
        except BadRecordError as err:
            if strict:
                msg = f"{path}: record {rid}: {err} (drop --strict to skip such records)"
                raise SbtError(msg) from None
            bad.setdefault(str(err), []).append(rid)
            continue
        good.append(conv)
    report = LoadReport(len(raw), {k: tuple(v) for k, v in bad.items()})
    return good, report


def read_json_records(path: Path) -> list[Any]:
    """A JSON list, a `{"annotations": [...]}` object (LRV/MiniGPT-4) or JSONL."""
    if not path.is_file():
        raise SbtError(f"data file {path} does not exist")
    data: Any = None
    if path.suffix != ".jsonl":
        # A one-line JSONL file is also valid JSON (one object), so only other suffixes try
        # JSON first; what is not JSON is read as JSONL.
        with suppress(SbtError):
            data = read_json(path)
    if data is None:
        data = [record for _, record in read_json_lines(path)]
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        data = data["annotations"]
    if not isinstance(data, list):
        raise SbtError(f"{path}: expected a list of records")
    return data


def _record_id(record: Any, index: int) -> str:
    if isinstance(record, dict):
        return str(record.get("id", record.get("image_id", index)))
    return str(index)


def _validate(conv: Conversation, image_dir: Path | None) -> None:
    if not conv.turns or len(conv.turns) % 2:
        raise BadRecordError("odd number of turns")
    for i, turn in enumerate(conv.turns):
        if turn.role != ("human" if i % 2 == 0 else "gpt"):
            raise BadRecordError("turns do not alternate human/gpt")
        if not turn.text.replace(IMAGE_PLACEHOLDER, "").strip() and turn.role == "gpt":
            raise BadRecordError("empty turn")
        if not turn.text.strip():
            raise BadRecordError("empty turn")
    if image_dir is not None and conv.image is not None and not (image_dir / conv.image).is_file():
        raise BadRecordError("missing image")
    if (
        image_dir is not None
        and conv.image is None
        and any(IMAGE_PLACEHOLDER in turn.text for turn in conv.turns)
    ):
        # The placeholder would be trained on its raw embedding row, and a batch mixing it
        # with real images fails in the model's image-token check.
        raise BadRecordError("<image> placeholder without an image")


def _field(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise BadRecordError(f"missing field {key!r}")
    return value


def _from_llava(record: Any, rid: str) -> Conversation:
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        raise BadRecordError("no conversations list")
    turns = []
    for msg in record["conversations"]:
        role = _ROLES.get(str(msg.get("from", "")).lower()) if isinstance(msg, dict) else None
        if role is None:
            raise BadRecordError("unknown role")
        turns.append(Turn(role, _field(msg, "value")))  # type: ignore[arg-type]
    image = record.get("image")
    return Conversation(rid, tuple(turns), str(image) if image else None)


def _from_alpaca(record: Any, rid: str) -> Conversation:
    # Stanford-Alpaca prompt, as LLaVA's own alpaca converter writes it.
    if not isinstance(record, dict):
        raise BadRecordError("not an object")
    instruction, extra = _field(record, "instruction"), str(record.get("input") or "")
    if not instruction.strip():
        raise BadRecordError("empty turn")
    template = ALPACA_PROMPT if extra.strip() else ALPACA_PROMPT_NO_INPUT
    prompt = template.format(instruction=instruction, input=extra)
    return Conversation(rid, (Turn("human", prompt), Turn("gpt", _field(record, "output"))))


def _from_orca(record: Any, rid: str) -> Conversation:
    # OpenOrca rows: the per-row system prompt is the only context for the question, so it
    # is kept in front of it (the template brings its own system prompt as well).
    if not isinstance(record, dict):
        raise BadRecordError("not an object")
    system = str(record.get("system_prompt") or "").strip()
    question = _field(record, "question")
    human = f"{system}\n\n{question}" if system else question
    return Conversation(rid, (Turn("human", human), Turn("gpt", _field(record, "response"))))


def _from_lrv(record: Any, rid: str) -> Conversation:
    if not isinstance(record, dict) or "image_id" not in record:
        raise BadRecordError("missing field 'image_id'")
    question = IMAGE_PLACEHOLDER + "\n" + _field(record, "question")
    turns = (Turn("human", question), Turn("gpt", _field(record, "answer")))
    task = str(record.get("task", "")) or "lrv"
    return Conversation(f"{task}-{rid}", turns, f"{record['image_id']}.jpg")


_CONVERTERS: dict[str, Callable[[Any, str], Conversation]] = {
    "llava": _from_llava,
    "alpaca": _from_alpaca,
    "orca": _from_orca,
    "lrv": _from_lrv,
}


def write_conversations(convs: Iterable[Conversation], path: Path) -> int:
    """Write LLaVA-format JSON; returns the number written."""
    items = [c.to_json() for c in convs]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(items)
