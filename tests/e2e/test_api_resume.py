"""API runs killed mid-flight resume without resending; completions scores equal hf's; images."""

from __future__ import annotations

import base64
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.backends.image_payload import image_entry
from sbt_bench.backends.openai_api import OpenAIBackend
from sbt_bench.core.types import GenerationParams, Request
from tests.backends.test_openai_api import model_file, run
from tests.cli_runner import results_of, run_cli
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]


def cached_rows(out: Path) -> int:
    found = list(out.glob("*/cache.sqlite"))
    if not found:
        return 0
    with sqlite3.connect(found[0], timeout=5) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


def test_killed_run_resends_nothing_already_answered(
    server: FakeOpenAI, data_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL with many requests in flight; the restart sends only what was not committed."""
    server.latency = 0.1
    model = model_file(tmp_path, server, concurrency=16)
    out = tmp_path / "out"
    args = ["--tasks", "truthfulqa_mc2", "--models", model, "--limit", "30"]
    args += ["--data-dir", str(data_dir), "--output-dir", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sbt_bench", "run", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while cached_rows(out) < 40 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)  # requests the dead client had in flight finish on the server
    committed, sent_before = cached_rows(out), sum(server.requests.values())
    assert proc.returncode == -signal.SIGKILL
    assert 40 <= committed < sent_before  # killed with requests sent but not yet answered

    server.requests.clear()
    server.latency = 0.0
    assert run(model, "truthfulqa_mc2", data_dir, out, limit=30) == 0
    resent = sum(server.requests.values())
    assert resent == cached_rows(out) - committed  # nothing answered is asked again
    assert resent > 0

    clean = tmp_path / "clean"
    assert run(model, "truthfulqa_mc2", data_dir, clean, limit=30) == 0
    assert results_of(out)["tasks"] == results_of(clean)["tasks"]  # nothing finished is lost


class TinyLMScorer:
    """Prompt log-probabilities from the tiny HF Llama, as a vLLM server would echo them."""

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64)

    def __call__(self, prompt: str) -> list[tuple[int, str, float | None]]:
        enc = self.tokenizer(prompt, return_offsets_mapping=True, add_special_tokens=False)
        ids = enc.input_ids
        with torch.no_grad():
            logits = self.model(torch.tensor([ids])).logits[0]
        logprobs = torch.log_softmax(logits, dim=-1)
        out: list[tuple[int, str, float | None]] = []
        for i, (token, (start, end)) in enumerate(zip(ids, enc.offset_mapping, strict=True)):
            lp = None if i == 0 else float(logprobs[i - 1, token])
            out.append((start, prompt[start:end], lp))
        return out


def test_completions_route_equals_hf_backend_on_the_same_model(
    server: FakeOpenAI, data_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The fake echoes the tiny model's log-probabilities: mc1/mc2 equal the hf backend's."""
    server.prompt_scorer = TinyLMScorer(tiny_model_dir)
    tasks = "truthfulqa_mc1,truthfulqa_mc2"
    api_out, hf_out = tmp_path / "api", tmp_path / "hf"
    assert run(model_file(tmp_path, server), tasks, data_dir, api_out, limit=3) == 0
    hf_args = ["run", "--tasks", tasks, "--models", f"hf:{tiny_model_dir}", "--limit", "3"]
    hf_args += ["--data-dir", str(data_dir), "--output-dir", str(hf_out), "--dtype", "float64"]
    assert run_cli(*hf_args) == 0
    api, hf = results_of(api_out)["tasks"], results_of(hf_out)["tasks"]
    for name in ("truthfulqa_mc1", "truthfulqa_mc2"):
        assert api[name]["protocol"] == hf[name]["protocol"] == "loglikelihood"  # type: ignore[index]
        got, want = api[name]["metrics"]["acc"], hf[name]["metrics"]["acc"]  # type: ignore[index]
        assert got == pytest.approx(want, abs=1e-9)
    api_lls = (api_out / "fake-openai-completions" / "samples_truthfulqa_mc2.jsonl").read_text()
    hf_lls = next(hf_out.glob("*/samples_truthfulqa_mc2.jsonl")).read_text()
    assert len(api_lls.splitlines()) == len(hf_lls.splitlines()) == 3


class TestImages:
    IMAGE = "sample_images/chelsea.png"

    def send(self, server: FakeOpenAI, data_dir: Path, tmp_path: Path, **extra: object) -> dict:  # type: ignore[type-arg]
        spec = parse_model_spec(model_file(tmp_path, server, kind="openai", **extra))
        backend = OpenAIBackend(spec, BackendOptions())
        request = Request(
            "generate",
            "What is in the image?",
            generation=GenerationParams(max_new_tokens=8),
            images=(str(data_dir / self.IMAGE),),
        )
        ((_, response),) = list(backend.generate([request]))
        assert response.error is None
        assert "Seen 1 image(s)" in (response.text or "")
        return {"body": server.bodies[-1], "entry": image_entry([request], spec)}

    def test_images_go_out_as_their_original_bytes(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """Without image_max_size the data URL holds the file's own bytes and the detail."""
        sent = self.send(server, data_dir, tmp_path, image_detail="high")
        text, image = sent["body"]["messages"][0]["content"]
        assert text == {"type": "text", "text": "What is in the image?"}
        assert image["image_url"]["detail"] == "high"
        prefix, payload = image["image_url"]["url"].split(",", 1)
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(payload) == (data_dir / self.IMAGE).read_bytes()
        assert sent["entry"]["images"] == {
            "sent": 1,
            "detail": "high",
            "max_size": None,
            "resized": 0,
        }

    def test_configured_max_size_resizes_and_is_recorded(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """With image_max_size the longest side is cut to it, and results count the image."""
        from PIL import Image

        sent = self.send(server, data_dir, tmp_path, image_max_size=64, image_detail="low")
        url = sent["body"]["messages"][0]["content"][1]["image_url"]["url"]
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
            assert max(image.size) == 64
        assert sent["entry"]["images"]["resized"] == 1
        assert sent["entry"]["images"]["max_size"] == 64
