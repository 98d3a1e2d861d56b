"""`llava:<original-LLaVA folder>`: a llava-hf copy converted on first use, read on later uses.

The paper's full fine-tunes (`MM-*-ft`) are in the original LLaVA repo layout (a LLaMA
checkpoint with `mm_*` config keys, `model.mm_projector.*`, the CLIP tower inside or named
by `mm_vision_tower`). The first `llava:` load converts the folder with `convert-llava`'s
code into `$SBT_CACHE_DIR/llava-original/<key>/`, keyed by the content hashes of its files,
of the vision tower's files and by the conversation template; later loads read that copy.
As with the GGUF cache, the model's identity stays the original folder's, a copy is built
in a temporary folder, sealed by a manifest written last, then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from sbt_bench.backends.gguf_cache import MANIFEST, content_hash, is_complete
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json, write_atomic
from sbt_bench.core.hub import check_hub
from sbt_bench.core.types import ModelSpec
from sbt_bench.media.images import cache_dir

log = logging.getLogger(__name__)

# SBT's evaluation scripts build prompts with LLaVA's `conv_vicuna_v0` (prompt format
# `sbt-paper`); the copy's chat template follows it. `convert-llava --template` picks another.
TEMPLATE = "v0"


def is_original_llava(folder: Path) -> bool:
    """Whether `folder` is an original-LLaVA checkpoint (mm_* config keys, no llava-hf config)."""
    config = folder / "config.json"
    if not config.is_file():
        return False
    raw = read_json(config)
    return (
        isinstance(raw, dict)
        and "mm_vision_tower" in raw
        and "text_config" not in raw
        and not (folder / "adapter_config.json").is_file()
    )


def converted_spec(spec: ModelSpec, offline: bool | None = None) -> ModelSpec:
    """The spec re-pointed at the cached llava-hf copy of its original-LLaVA folder.

    Only loading is redirected: callers keep the original spec for identity and results.
    `offline` as the run's (None: offline where `$HF_HUB_OFFLINE` says so or the hub is
    unreachable).
    """
    folder = Path(spec.path)
    vision = _vision_source(spec, folder, offline)
    copy = _cache_root() / _copy_key(folder, vision)
    if not is_complete(copy):
        _build_copy(folder, vision, copy)
    return replace(spec, path=str(copy), revision=None)


def _vision_source(spec: ModelSpec, folder: Path, offline: bool | None) -> str:
    """The local tower the YAML gives, else the hub id `mm_vision_tower` names (if reachable)."""
    if spec.vision_tower is not None:
        if not (Path(spec.vision_tower) / "config.json").is_file():
            raise SbtError(
                f"model {spec.name!r}: vision_tower {spec.vision_tower} is not a CLIP folder "
                "(no config.json); give the folder holding the tower's config and weights"
            )
        return str(Path(spec.vision_tower).resolve())
    named = str(read_json(folder / "config.json")["mm_vision_tower"])
    if Path(named).is_dir():
        return str(Path(named).resolve())
    access = check_hub(offline)
    if access.offline:
        why = access.reason or "offline mode"
        raise SbtError(
            f"model {spec.name!r}: {folder} names its vision tower {named!r} (mm_vision_tower), "
            f"which cannot be fetched ({why}); give a local copy as `vision_tower: /path` "
            "in a model YAML"
        )
    return named


def _cache_root() -> Path:
    return cache_dir() / "llava-original"


def _copy_key(folder: Path, vision: str) -> str:
    """Hash of every file's content, the tower's files (or hub id) and the template."""
    parts = [f"template:{TEMPLATE}"]
    parts += [f"{p.name}:{content_hash(p)}" for p in sorted(folder.iterdir()) if p.is_file()]
    tower = Path(vision)
    if tower.is_dir():
        parts += [
            f"tower/{p.name}:{content_hash(p)}" for p in sorted(tower.iterdir()) if p.is_file()
        ]
    else:
        parts.append(f"tower:{vision}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _build_copy(folder: Path, vision: str, copy: Path) -> None:
    from sbt_train.model.convert import ConvertConfig, convert_original_llava  # noqa: PLC0415

    if copy.exists():
        log.warning("converted copy %s is incomplete; rebuilding it", copy)
        shutil.rmtree(copy, ignore_errors=True)
    log.info("converting original-LLaVA checkpoint %s once into %s", folder, copy)
    copy.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=copy.parent, prefix=f".{copy.name}."))
    try:
        convert_original_llava(ConvertConfig(folder, staging, vision=vision, template=TEMPLATE))
        _seal(staging, folder)
        try:
            staging.rename(copy)
        except OSError:
            if not is_complete(copy):  # another process finished the same copy first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _seal(staging: Path, source: Path) -> None:
    files: dict[str, Any] = {
        p.name: p.stat().st_size for p in sorted(staging.iterdir()) if p.is_file()
    }
    manifest = {"source": str(source), "template": TEMPLATE, "files": files}
    write_atomic(staging / MANIFEST, json.dumps(manifest, indent=1))
