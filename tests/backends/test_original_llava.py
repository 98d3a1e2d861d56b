"""Original-LLaVA full checkpoints (`MM-*-ft`): `llava:<dir>` converts once and scores images.

The fixture has everything the released files have: pickled bf16 shards with an index,
`inv_freq` buffers, the CLIP tower inside, three added tokens and `mm_use_im_start_end`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sbt_bench.backends import parse_model_spec
from sbt_bench.backends.hf_loading import load_tokenizer_and_model
from tests.cli_runner import results_of, run_cli
from tests.released_layouts import ADDED_TOKENS, FullFixture, write_original_llava_full
from tests.tiny_models import build_tiny_clip, build_tiny_llama
from tests.vision_data import link_question_files, write_images

TASK = "pope_random"
LIMIT = 2
IDS = torch.tensor([[1, 5, 9, 42, 7, 3]])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local CLIP folder standing in for `openai/clip-vit-large-patch14`."""
    return build_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def full(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> FullFixture:
    """A tiny `MM-*-ft` folder."""
    root = tmp_path_factory.mktemp("full")
    return write_original_llava_full(root / "mm-ft", build_tiny_llama(root / "llama"), clip)


@pytest.fixture(scope="module")
def vision_data(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real POPE questions, real photos under the first items' image names."""
    target = link_question_files(data_dir, tmp_path_factory.mktemp("vision-data"))
    write_images(target, data_dir, [TASK], LIMIT)
    return target


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh sbt-bench cache per test (the converted copies go there)."""
    monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def model_yaml(full: FullFixture, clip: Path, folder: Path, backend: str = "llava") -> Path:
    """A model YAML naming the local tower for `mm_vision_tower` (the hub is offline here)."""
    path = folder / f"{backend}-mm-ft.yaml"
    path.write_text(f"model: {backend}:{full.folder}\nvision_tower: {clip}\n")
    return path


def language_model_of(full: FullFixture) -> LlamaForCausalLM:
    """The LLaMA inside the checkpoint, built by hand from the tensors written."""
    raw = json.loads((full.folder / "config.json").read_text())
    text = {k: v for k, v in raw.items() if not k.startswith("mm_")}
    text.pop("architectures")
    model = LlamaForCausalLM(LlamaConfig(**text))
    wanted = model.state_dict()
    model.load_state_dict({k: v for k, v in full.state.items() if k in wanted})
    return model.eval()


def load(spec_text: str, *, with_images: bool) -> Any:
    """The backend's model for a spec (float32, CPU)."""
    spec = parse_model_spec(spec_text)
    device, dtype = torch.device("cpu"), torch.float32
    return load_tokenizer_and_model(spec, device, dtype, with_images=with_images)


def test_llava_dir_scores_an_image_task_and_reuses_its_copy(  # noqa: PLR0917 - fixtures
    full: FullFixture,
    clip: Path,
    vision_data: Path,
    tmp_path: Path,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """First run converts (one cached copy) and scores POPE; the second converts nothing."""
    spec = model_yaml(full, clip, tmp_path)

    def run(out: Path) -> dict[str, Any]:
        args = ["run", "--tasks", TASK, "--models", str(spec), "--limit", str(LIMIT),
                "--data-dir", str(vision_data), "--output-dir", str(out)]  # fmt: skip
        assert run_cli(*args, "--dtype", "float32") == 0
        return results_of(out)

    first = run(tmp_path / "first")
    assert first["tasks"][TASK]["n_samples"] == LIMIT
    assert first["model"]["path"] == str(full.folder)  # the identity stays the original folder
    (copy,) = (cache / "llava-original").iterdir()

    def no_conversion(*_: Any) -> None:
        raise AssertionError("the cached copy should have been reused")

    monkeypatch.setattr("sbt_train.model.convert.convert_original_llava", no_conversion)
    second = run(tmp_path / "second")
    assert second["tasks"][TASK]["metrics"] == first["tasks"][TASK]["metrics"]
    assert list((cache / "llava-original").iterdir()) == [copy]


def test_converted_copy_holds_the_trained_weights(
    full: FullFixture, clip: Path, tmp_path: Path
) -> None:
    """Text logits equal the LLaMA inside; projector and saved tower are the checkpoint's."""
    processor, model = load(str(model_yaml(full, clip, tmp_path)), with_images=True)
    reference = language_model_of(full)
    n_vocab = reference.config.vocab_size
    with torch.no_grad():
        got = model(input_ids=IDS).logits[..., :n_vocab]
        assert torch.allclose(got, reference(input_ids=IDS).logits, atol=1e-5)
    projector = model.model.multi_modal_projector.linear_1
    assert torch.equal(projector.weight, full.state["model.mm_projector.weight"])
    saved = full.state["model.vision_tower.vision_tower.vision_model.post_layernorm.weight"]
    tower = model.model.vision_tower.state_dict()
    (name,) = [k for k in tower if k.endswith("post_layernorm.weight")]
    assert torch.equal(tower[name], saved)
    vocab = processor.tokenizer.get_vocab()
    assert [vocab[t] for t in ADDED_TOKENS] == list(range(n_vocab - 3, n_vocab))


def test_hf_dir_scores_its_language_model(full: FullFixture) -> None:
    """`hf:<MM-*-ft>` reads the LLaMA and drops projector, tower and inv_freq keys."""
    _, model = load(f"hf:{full.folder}", with_images=False)
    with torch.no_grad():
        got = model(input_ids=IDS).logits
        assert torch.allclose(got, language_model_of(full)(input_ids=IDS).logits, atol=1e-5)


def test_unreachable_vision_tower_is_one_line(
    full: FullFixture,
    vision_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Offline and no `vision_tower:` in a YAML: one line naming the hub id and that key."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    capsys.readouterr()
    args = ["run", "--tasks", TASK, "--models", f"llava:{full.folder}", "--limit", "1",
            "--output-dir", str(tmp_path / "o"), "--data-dir", str(vision_data)]  # fmt: skip
    assert run_cli(*args) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("sbt-bench: error:")]
    assert len(err) == 1
    assert "openai/clip-vit-large-patch14" in err[0] and "`vision_tower: /path`" in err[0]


def test_tower_named_only_by_mm_vision_tower_comes_from_the_yaml(
    clip: Path, tmp_path: Path
) -> None:
    """A checkpoint without the tower inside takes it, weights too, from `vision_tower:`."""
    from transformers import CLIPVisionModel

    llama = build_tiny_llama(tmp_path / "llama")
    full = write_original_llava_full(tmp_path / "mm-ft", llama, clip, tower_inside=False)
    assert not any(k.startswith("model.vision_tower.") for k in full.state)
    _, model = load(str(model_yaml(full, clip, tmp_path)), with_images=True)
    want = CLIPVisionModel.from_pretrained(clip).state_dict()
    got = model.model.vision_tower.state_dict()
    assert all(torch.equal(got[k], v) for k, v in want.items() if k in got)
    assert len(set(want) & set(got)) > 10
