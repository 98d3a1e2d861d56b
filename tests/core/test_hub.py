"""Hub datasets are read at a pinned commit, and results say which commit they came from."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sbt_bench.results.schema import TaskResult
from sbt_bench.tasks import TASKS
from sbt_bench.tasks.source import UNPINNED, HubRevision, describe_source, read_task_data

SHA = re.compile(r"^[0-9a-f]{40}$")
# Hub datasets whose commit could not be verified when they were pinned (see the README).
UNPINNED_HUBS = {"EleutherAI/hendrycks_ethics"}


@pytest.mark.parametrize("name", [n for n in TASKS.names() if TASKS.get(n).dataset.hub])
def test_every_hub_task_is_pinned_to_a_full_commit(name: str) -> None:
    """Each hub task names a 40-hex commit, except the listed ones left unpinned on purpose."""
    dataset = TASKS.get(name).dataset
    if dataset.hub in UNPINNED_HUBS:
        assert dataset.revision is None
    else:
        assert dataset.revision is not None
        assert SHA.match(dataset.revision)


def test_revision_leaves_the_task_hash_alone() -> None:
    """Pinning a commit does not change the task's hash, so earlier results stay comparable."""
    spec = TASKS.get("truthfulqa_mc1")
    unpinned = replace(spec, dataset=replace(spec.dataset, revision=None))
    assert spec.spec_hash() == unpinned.spec_hash()


class FakeBuilder:
    """Stands in for datasets' builder: records the revision asked for, reports a commit."""

    asked: ClassVar[list[str | None]] = []

    def __init__(self, rows: Any, revision: str | None) -> None:
        self.rows = rows
        self.hash = revision or "f" * 40
        FakeBuilder.asked.append(revision)

    def download_and_prepare(self) -> None:
        """Nothing to download."""

    def as_dataset(self, split: str) -> Any:
        return self.rows


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> type[FakeBuilder]:
    import datasets

    rows = datasets.Dataset.from_list(
        [{"question": "Is it?", "mc1_targets": {"choices": ["a", "b"], "labels": [1, 0]}}]
    )

    def load_dataset_builder(path: str, name: str | None, revision: str | None) -> FakeBuilder:
        return FakeBuilder(rows, revision)

    FakeBuilder.asked = []
    monkeypatch.setattr(datasets, "load_dataset_builder", load_dataset_builder)
    return FakeBuilder


def test_pinned_commit_is_asked_for_and_recorded(fake_hub: type[FakeBuilder]) -> None:
    """A pinned task asks the hub for its commit and records it as requested and resolved."""
    dataset = replace(TASKS.get("truthfulqa_mc1").dataset, process=None)
    data = read_task_data("truthfulqa_mc1", dataset, None)
    assert fake_hub.asked == [dataset.revision]
    assert data.revision == HubRevision(str(dataset.revision), dataset.revision)
    assert data.source.endswith(f"@{dataset.revision}")
    assert len(data.records) == 1


def test_unpinned_task_records_the_commit_the_hub_resolved(fake_hub: type[FakeBuilder]) -> None:
    """Without a pin, results say `unpinned` and which commit the hub actually served."""
    spec = TASKS.get("truthfulqa_mc1").dataset
    dataset = replace(spec, revision=None, process=None)
    data = read_task_data("truthfulqa_mc1", dataset, None)
    assert fake_hub.asked == [None]
    assert data.revision == HubRevision(UNPINNED, "f" * 40)


def test_results_json_carries_the_revision_for_hub_data_only() -> None:
    """`data_revision` appears in a task's results entry when the data came from the hub."""
    common: dict[str, Any] = {
        "task": "t",
        "version": "1",
        "spec_hash": "h",
        "n_samples": 1,
        "n_available": 1,
        "limit": None,
        "metrics": {},
        "stderr": {},
        "n_requests": 1,
    }
    hub = TaskResult(
        **common, data_source="hf://org/ds[test]", data_revision=HubRevision(UNPINNED, "a" * 40)
    )
    local = TaskResult(**common, data_source="/data/t.csv")
    assert hub.document["data_revision"] == {"requested": UNPINNED, "resolved": "a" * 40}
    assert "data_revision" not in local.document


def test_local_data_has_no_revision(data_dir: Path) -> None:
    """A --data-dir run reads files, not the hub: no revision is claimed."""
    data = read_task_data("truthfulqa_mc1", TASKS.get("truthfulqa_mc1").dataset, data_dir)
    assert data.revision is None
    assert data.source == describe_source(TASKS.get("truthfulqa_mc1").dataset, data_dir)
