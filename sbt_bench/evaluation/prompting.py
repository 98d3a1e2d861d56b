"""Apply prompt settings (chat template, system instruction, few-shot, gen kwargs) to a task.

With nothing given, samples and requests pass through untouched, so default runs build
exactly the prompts they always did (lm-eval's). Settings apply to text tasks; a task
with images keeps the model's `prompt_format` (and only takes `--gen-kwargs`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sbt_bench.backends import ModelSpec
from sbt_bench.backends.chat import ChatRenderer, load_chat_renderer
from sbt_bench.core.errors import SbtError
from sbt_bench.core.prompt_settings import FEWSHOT_SEED, PromptSettings
from sbt_bench.core.types import Request, Sample
from sbt_bench.tasks import Task
from sbt_bench.tasks.fewshot import Shot, as_chat, build_messages, draw_shots, join_as_text
from sbt_bench.tasks.hooks import BUNDLED_HOOKS, TaskHooks
from sbt_bench.tasks.source import load_records
from sbt_bench.tasks.spec import TaskSpec


@dataclass(frozen=True)
class Prompter:
    """Resolved settings of one model's run, plus its chat template when one is applied."""

    settings: PromptSettings = field(default_factory=PromptSettings)
    render_chat: ChatRenderer | None = None
    offline: bool | None = None
    """Few-shot pools on the hub from the local cache only (None: if the hub is unreachable)."""
    hooks: TaskHooks = field(default=BUNDLED_HOOKS, compare=False, repr=False)
    """Where a few-shot pool's reader is looked up (the run's catalog's: user readers too)."""

    @property
    def multiturn(self) -> bool:
        """lm-eval 0.4.13: few-shot turns are separate chat turns unless turned off."""
        chat = bool(self.settings.apply_chat_template)
        return chat and self.settings.fewshot_as_multiturn is not False

    def num_fewshot(self, spec: TaskSpec) -> int:
        """The examples each item gets; asking a task without a pool for any is an error."""
        n = self.settings.num_fewshot or 0
        if n and spec.fewshot is None:
            fixed = " and keeps its fixed few-shot primer (its preamble)" if spec.preamble else ""
            raise SbtError(
                f"--num-fewshot {n}: task {spec.task} has no few-shot pool{fixed}; "
                "drop the flag or give --num-fewshot 0"
            )
        return n

    def applies_to(self, spec: TaskSpec) -> bool:
        """Whether text-prompt settings apply (a text task)."""
        return spec.image is None

    def prepare(self, task: Task, samples: Sequence[Sample], data_dir: Path | None) -> list[Sample]:
        """The samples with their context rebuilt under the settings (as they are by default)."""
        spec = task.spec
        n = self.num_fewshot(spec)
        system = self.settings.system_instruction
        if not self.applies_to(spec) or not (n or system or self.settings.apply_chat_template):
            return list(samples)
        shots = self._shots(task, n, len(samples), data_dir)
        out = []
        for sample, item_shots in zip(samples, shots, strict=True):
            messages = build_messages(sample.context, item_shots, system, target_delimiter(spec))
            if self.render_chat is None:
                context = join_as_text(messages)
            else:
                context = self.render_chat(as_chat(messages, multiturn=self.multiturn))
            out.append(replace(sample, context=context))
        return out

    def _shots(self, task: Task, n: int, n_items: int, data_dir: Path | None) -> list[list[Shot]]:
        if not n:
            return [[] for _ in range(n_items)]
        spec = task.spec
        assert spec.fewshot is not None
        pool_spec = spec.fewshot
        dataset = replace(
            spec.dataset,
            split=pool_spec.split,
            local_file=pool_spec.local_file,
            reader=pool_spec.reader or spec.dataset.reader,
        )
        records = load_records(spec.task, dataset, data_dir, offline=self.offline, hooks=self.hooks)
        if len(records) < n:
            raise SbtError(f"--num-fewshot {n}: {spec.task}'s pool has only {len(records)} items")
        draws = draw_shots(len(records), n, n_items, FEWSHOT_SEED)
        shots = {i: _shot(task, i, records[i]) for i in sorted({i for d in draws for i in d})}
        return [[shots[i] for i in draw] for draw in draws]

    def adjust(self, spec: TaskSpec, requests: Sequence[Request]) -> list[Request]:
        """Requests under the settings: no target delimiter after a chat prompt, gen kwargs."""
        return [self._adjust_one(spec, request) for request in requests]

    def _adjust_one(self, spec: TaskSpec, request: Request) -> Request:
        gen = self.settings.gen_kwargs.given()
        if request.kind == "loglikelihood" and self.render_chat and self.applies_to(spec):
            # lm-eval drops the delimiter: the answer starts the assistant's turn.
            continuation = request.continuation.removeprefix(target_delimiter(spec))
            return replace(request, continuation=continuation)
        if request.kind == "generate" and gen:
            return replace(request, generation=replace(request.generation, **_greedy_at_zero(gen)))
        return request

    def record(self, spec: TaskSpec) -> dict[str, Any]:
        """What was applied to the task, for results.json (compared by leaderboard, compare)."""
        text = self.applies_to(spec)
        n = self.num_fewshot(spec) if text else 0
        entry: dict[str, Any] = {
            "chat_template": text and self.render_chat is not None,
            "system_instruction": self.settings.system_instruction if text else None,
            "fewshot_as_multiturn": text and self.multiturn,
            "num_fewshot": n,
        }
        if n:
            entry["fewshot_seed"] = FEWSHOT_SEED
        if text and spec.preamble:
            entry["primer"] = "fixed (the task's preamble)"
        if spec.generation is not None:
            entry["gen_kwargs"] = self.settings.gen_kwargs.given()
        if text and self.render_chat is not None and self.settings.think is not None:
            entry["think"] = self.settings.think
        return entry


def target_delimiter(spec: TaskSpec) -> str:
    """What separates a question from its answer (lm-eval's default " " for generation)."""
    return spec.multiple_choice.target_delimiter if spec.multiple_choice else " "


def _shot(task: Task, index: int, record: dict[str, Any]) -> Shot:
    """A pool record as an example: its text and its (first) gold answer."""
    sample = task.build_samples(index, record, None)[0]
    answer = sample.choices[sample.gold[0]] if sample.choices else sample.references[0]
    return Shot(sample.context, answer)


def _greedy_at_zero(given: dict[str, Any]) -> dict[str, Any]:
    """GenerationParams fields from gen kwargs; temperature 0 means greedy, as in lm-eval."""
    overrides = dict(given)
    if overrides.get("temperature") == 0.0 and "do_sample" not in overrides:
        overrides["do_sample"] = False
    return overrides


def task_hash(spec: TaskSpec, applied: Mapping[str, Any]) -> str:
    """The task's hash: its definition's, and the settings where they differ from defaults."""
    if not applied or dict(applied) == default_record(spec):
        return spec.spec_hash()
    blob = json.dumps([spec.spec_hash(), dict(applied)], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def default_record(spec: TaskSpec) -> dict[str, Any]:
    """The record of a run without prompt settings (what results without one imply)."""
    return Prompter().record(spec)


def build_prompter(
    model: ModelSpec,
    flags: PromptSettings,
    specs: Sequence[TaskSpec],
    offline: bool | None = None,
    hooks: TaskHooks = BUNDLED_HOOKS,
) -> Prompter:
    """The flags over the model YAML's settings, checked against every task before any loading.

    The chat template is loaded (the tokenizer alone) only when some text task needs it.
    """
    settings = flags.over(model.prompt)
    settings.check()
    prompter = Prompter(settings, offline=offline, hooks=hooks)
    for spec in specs:
        prompter.num_fewshot(spec)
        if settings.think and spec.multiple_choice is not None and prompter.applies_to(spec):
            raise SbtError(
                f"task {spec.task} scores the log-likelihood of each answer, which a thinking "
                "block would precede: run it with --think off (or leave --think out)"
            )
    if not settings.apply_chat_template or not any(prompter.applies_to(s) for s in specs):
        return prompter
    return replace(prompter, render_chat=load_chat_renderer(model, offline, settings.think))
