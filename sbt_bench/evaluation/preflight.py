"""Refuse a run whose numbers could not mean what they say, before any model work."""

from __future__ import annotations

from collections.abc import Sequence

from sbt_bench.backends import ModelSpec, accepts_images
from sbt_bench.core.errors import SbtError
from sbt_bench.tasks.spec import TaskSpec


def check_image_input(spec: ModelSpec, tasks: Sequence[TaskSpec]) -> None:
    """A model that cannot see images must not score image tasks.

    A text-only backend drops the images and answers from the question alone; POPE then
    reports an F1 that looks like a result.
    """
    needing = [task.task for task in tasks if task.image is not None]
    if not needing or accepts_images(spec):
        return
    others = f" (and {len(needing) - 1} more image tasks)" if len(needing) > 1 else ""
    raise SbtError(
        f"{needing[0]}{others} needs image input, but model {spec.name!r} is a text-only "
        f"{spec.backend} model; drop the image tasks from --tasks, or use llava:<dir> or "
        "openai:<chat model>"
    )
