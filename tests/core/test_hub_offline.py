"""Hub offline mode is a value handed to each hub call, never a process-wide switch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sbt_bench.core import hub
from sbt_bench.core.errors import SbtError
from sbt_bench.tasks import TASKS
from sbt_bench.tasks.source import read_task_data


@pytest.fixture
def unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A closed local port stands for the hub; no offline mode is set anywhere."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    hub._probe.cache_clear()
    yield
    hub._probe.cache_clear()


def test_unreachable_hub_leaves_the_process_online(unreachable_hub: None) -> None:
    """A failed hub read changes neither os.environ nor the libraries' offline settings."""
    import datasets.config
    import huggingface_hub.constants

    before = dict(os.environ)
    with pytest.raises(SbtError, match=r"127\.0\.0\.1:9"):
        read_task_data("ethics_cm", TASKS.get("ethics_cm").dataset, None)
    assert dict(os.environ) == before
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False
    assert (datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE) == (False, False)


def test_offline_is_chosen_without_a_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """`offline=True` (or $HF_HUB_OFFLINE) is taken as given: no connection is tried."""

    def no_probe(endpoint: str) -> str | None:
        raise AssertionError(f"probed {endpoint}")

    monkeypatch.setattr(hub, "_probe", no_probe)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert hub.check_hub(offline=True) == hub.HubAccess(offline=True)
    assert hub.check_hub(offline=False) == hub.HubAccess(offline=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.check_hub() == hub.HubAccess(offline=True)


def test_offline_settings_are_put_back_after_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside `offline_libraries` the libraries are offline; after it, even on an error, not."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    seen = []

    def fail_offline() -> None:
        with hub.offline_libraries(hub.HubAccess(offline=True)):
            seen.append(huggingface_hub.constants.HF_HUB_OFFLINE)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_offline()
    assert seen == [True]
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False


def test_offline_run_hands_the_value_down(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate(offline=True)` reads hub data from the cache only: no probe, no env change."""
    import datasets.config
    import huggingface_hub.constants

    import sbt_bench

    def no_probe(endpoint: str) -> str | None:
        raise AssertionError(f"probed {endpoint}")

    monkeypatch.setattr(hub, "_probe", no_probe)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SBT_DATA_DIR", raising=False)
    # Empty caches: offline, the data cannot be found, whatever this machine has cached.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    before = dict(os.environ)
    with pytest.raises(SbtError, match=r"ethics_cm: cannot load .* from the Hugging Face hub"):
        sbt_bench.evaluate(
            f"hf:{tiny_model_dir}", "ethics_cm", limit=2, offline=True, output_dir=tmp_path
        )
    assert dict(os.environ) == before
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False
