"""TaskCatalog: a run's tasks and the hooks they name, layered over the bundled ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbt_bench.core.errors import SbtError
from sbt_bench.tasks import build_task, bundled_catalog
from sbt_bench.tasks.readers import READERS, Record
from sbt_bench.tasks.source import read_task_data
from sbt_bench.tasks.user_tasks import user_catalog
from tests.tasks.test_user_tasks import write_hooked_folder


def read_nothing(_path: Path) -> list[Record]:
    """A reader that finds no records."""
    return []


def test_overlay_hooks_answer_with_the_bundled_and_keep_their_own() -> None:
    """A reader added to a catalog overlay's hooks is seen there only, bundled ones too."""
    catalog = bundled_catalog().with_overlay()
    catalog.hooks.readers.register("test_read_nothing", read_nothing)
    assert "test_read_nothing" in catalog.hooks.readers
    assert "json_lines" in catalog.hooks.readers
    assert "test_read_nothing" not in READERS
    assert "test_read_nothing" not in bundled_catalog().hooks.readers


def test_user_hooks_resolve_through_the_catalog_only(tmp_path: Path) -> None:
    """A user task's reader, processor and scorer are found through its catalog's hooks."""
    folder = write_hooked_folder(tmp_path / "hooked", "0.25")
    catalog = user_catalog([str(folder)], bundled_catalog())
    spec = catalog.tasks.get("my_marked")
    data = read_task_data(spec.task, spec.dataset, None, hooks=catalog.hooks)
    assert [r["gold"] for r in data.records] == ["yes"] * 3  # read, then processed
    task = build_task(spec, hooks=catalog.hooks)
    assert task.metric_names() == ("mark",)
    with pytest.raises(SbtError, match="unknown data reader"):
        read_task_data(spec.task, spec.dataset, None)  # the global readers lack it
    with pytest.raises(SbtError, match="unknown generation scorer"):
        build_task(spec).metric_names()
