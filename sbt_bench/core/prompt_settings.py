"""Prompt settings of text tasks, as lm-evaluation-harness users know them.

`--apply-chat-template`, `--system-instruction`, `--fewshot-as-multiturn`, `--num-fewshot`
and `--gen-kwargs` on `run`, or the same keys in a model YAML (the flags win). Every field
is None until given, so "not given" (lm-eval's default) is told apart from a value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sbt_bench.core.errors import SbtError

FEWSHOT_SEED = 1234
"""lm-eval's `fewshot_random_seed` default: its few-shot draws are reproduced exactly."""


@dataclass(frozen=True)
class GenKwargs:
    """Decoding overrides for generation tasks (`--gen-kwargs k=v,...`); None keeps the task's."""

    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    do_sample: bool | None = None

    def given(self) -> dict[str, Any]:
        """The overrides that were given, by name."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PromptSettings:
    """How text prompts are built; None fields were not given (lm-eval's defaults apply)."""

    apply_chat_template: bool | None = None
    system_instruction: str | None = None
    fewshot_as_multiturn: bool | None = None
    num_fewshot: int | None = None
    gen_kwargs: GenKwargs = field(default_factory=GenKwargs)
    think: bool | None = None
    """The chat template's thinking switch (`enable_thinking`); None: the template's default."""

    def __post_init__(self) -> None:
        if self.num_fewshot is not None and self.num_fewshot < 0:
            raise SbtError(f"--num-fewshot must be 0 or more, got {self.num_fewshot}")

    def over(self, base: PromptSettings) -> PromptSettings:
        """These settings where given, else `base`'s (flags over a model YAML's keys)."""
        merged = {
            f.name: _first_given(getattr(self, f.name), getattr(base, f.name))
            for f in fields(self)
            if f.name != "gen_kwargs"
        }
        gen = replace(base.gen_kwargs, **self.gen_kwargs.given())
        return PromptSettings(**merged, gen_kwargs=gen)

    def check(self) -> None:
        """Refuse combinations lm-eval refuses, once flags and model YAML are merged."""
        if self.fewshot_as_multiturn and not self.apply_chat_template:
            raise SbtError("--fewshot-as-multiturn needs --apply-chat-template (as in lm-eval)")
        if self.think is not None and not self.apply_chat_template:
            raise SbtError(
                "--think is a switch of the chat template: add --apply-chat-template "
                "(or apply_chat_template: true in the model YAML)"
            )


def _first_given(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


_GEN_KEYS = tuple(f.name for f in fields(GenKwargs))


def parse_gen_kwargs(text: str | dict[str, Any] | None, source: str = "--gen-kwargs") -> GenKwargs:
    """`temperature=0.7,top_p=0.9,max_new_tokens=64,do_sample=true` (or a YAML mapping).

    Example:
        >>> parse_gen_kwargs("temperature=0,max_new_tokens=32")
        GenKwargs(temperature=0.0, top_p=None, max_new_tokens=32, do_sample=None)
    """
    if text is None:
        return GenKwargs()
    pairs = text.items() if isinstance(text, dict) else _split_pairs(text, source)
    values: dict[str, Any] = {}
    for key, raw in pairs:
        if key not in _GEN_KEYS:
            raise SbtError(f"{source}: unknown key {key!r}; allowed: {', '.join(_GEN_KEYS)}")
        values[key] = _convert(key, raw, source)
    return GenKwargs(**values)


def _split_pairs(text: str, source: str) -> list[tuple[str, str]]:
    pairs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep:
            raise SbtError(f"{source}: expected key=value pairs separated by commas, got {part!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _convert(key: str, raw: Any, source: str) -> Any:
    text = str(raw).strip().lower()
    if key == "do_sample":
        if text not in ("true", "false", "1", "0"):
            raise SbtError(f"{source}: do_sample must be true or false, got {raw!r}")
        return text in ("true", "1")
    kind = int if key == "max_new_tokens" else float
    wanted = "an integer >= 1" if kind is int else "a finite number >= 0"
    try:
        value = kind(text)
    except ValueError:
        raise SbtError(f"{source}: {key} must be {wanted}, got {raw!r}") from None
    if not math.isfinite(value) or value < 0 or (kind is int and value < 1):
        raise SbtError(f"{source}: {key} must be {wanted}, got {raw!r}")
    if key == "top_p" and not 0 < value <= 1:
        raise SbtError(f"{source}: top_p is a probability in (0, 1], got {raw!r}")
    return value


def describe_applied(record: Mapping[str, Any] | None) -> str:
    """A task's recorded prompt settings in one comparable line ("defaults" when none).

    Results written before settings were recorded carry none: they were made with the
    defaults.

    Example:
        >>> describe_applied({"chat_template": True, "num_fewshot": 0})
        'chat_template=True'
    """
    record = record or {}
    defaults: dict[str, Any] = {
        "chat_template": False,
        "system_instruction": None,
        "fewshot_as_multiturn": False,
        "num_fewshot": 0,
        "gen_kwargs": {},
    }
    given = [
        f"{k}={record[k]!r}" if isinstance(record[k], str) else f"{k}={record[k]}"
        for k in defaults
        if record.get(k, defaults[k]) != defaults[k]
    ]
    return ", ".join(given) or "defaults"
