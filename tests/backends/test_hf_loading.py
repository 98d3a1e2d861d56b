"""Big-model placement for the hf backend: layers split between memory and disk offload."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbt_bench.backends import BackendOptions, build_backend, parse_model_spec
from sbt_bench.core.types import GenerationParams, Request

REQUESTS = [
    # Two continuations of one context: the packed, prefix-shared path.
    Request("loglikelihood", "Q: What is human life expectancy? A:", " 78 years"),
    Request("loglikelihood", "Q: What is human life expectancy? A:", " no comment"),
    Request("loglikelihood", "Scenario 1: I went to the park.", " yes"),
]
GENERATE = [Request("generate", "Q: Is this wrong? Answer:", generation=GenerationParams(8))]


@pytest.fixture(scope="module")
def offloaded_spec(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model YAML whose CPU budget holds the embeddings and one layer; the rest on disk."""
    folder = tmp_path_factory.mktemp("offload")
    path = folder / "offloaded.yaml"
    path.write_text(
        f"model: hf:{tiny_model_dir}\ndevice_map: auto\nmax_memory: {{cpu: 150KB}}\n"
        f"offload_folder: {folder / 'disk'}\n",
        encoding="utf-8",
    )
    return path


def test_offloaded_model_scores_as_the_plain_load(
    tiny_model_dir: Path, offloaded_spec: Path
) -> None:
    """Split between CPU memory and disk, log-likelihoods match the plain load's to 1e-5."""
    options = BackendOptions(dtype="float32")
    plain = build_backend(parse_model_spec(f"hf:{tiny_model_dir}"), options)
    split = build_backend(parse_model_spec(str(offloaded_spec)), options)
    placement = set(split.model.hf_device_map.values())  # type: ignore[attr-defined]
    assert placement == {"cpu", "disk"}
    expected = dict(plain.loglikelihood(REQUESTS))
    for index, response in split.loglikelihood(REQUESTS):
        assert response.logprob == pytest.approx(expected[index].logprob, abs=1e-5)
        assert response.is_greedy == expected[index].is_greedy
    assert dict(split.generate(GENERATE)) == dict(plain.generate(GENERATE))
