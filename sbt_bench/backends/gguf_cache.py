"""A plain Hugging Face copy of each GGUF checkpoint, made on first load, read on later loads.

Transformers dequantises a GGUF file tensor by tensor in Python on every load (20-45 s for
SmolLM2-135M here). The dequantised float32 weights and the GGUF-derived tokenizer are
saved once as safetensors under `$SBT_CACHE_DIR/gguf/<content hash>/`; later loads map
that folder in about a second. The copy is keyed by the file's content, so a replaced file
gets a new copy, and the model's identity (its fingerprint, the response cache key) is
still computed from the GGUF spec, never from the copy.

A copy is built in a temporary folder and renamed into place, and carries a manifest of
its files and their sizes written last: a folder without one, or with a file of another
size, is incomplete (a crash, a full disk) and is rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from sbt_bench.core.files import make_folder, write_atomic
from sbt_bench.media.images import CACHE_FIX, cache_dir

log = logging.getLogger(__name__)

MANIFEST = "sbt_gguf_manifest.json"
_CHUNK = 1 << 22


def gguf_cache_root() -> Path:
    """The folder holding one dequantised copy per GGUF content hash."""
    return cache_dir() / "gguf"


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, remembered per (path, size, mtime) so it is computed once.

    Example:
        >>> content_hash(Path("SmolLM2-135M-Instruct.Q4_1.gguf"))  # doctest: +SKIP
        '5a1f...'
    """
    stat = path.stat()
    stamp = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    memo = gguf_cache_root() / "hashes" / hashlib.sha256(stamp.encode()).hexdigest()[:32]
    if memo.is_file():
        return memo.read_text(encoding="utf-8").strip()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    write_atomic(memo, digest.hexdigest(), fix=CACHE_FIX)
    return digest.hexdigest()


def is_complete(folder: Path) -> bool:
    """Whether `folder` holds every file its manifest lists, each of the listed size."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        sizes: dict[str, int] = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError):
        return False
    return all(
        (folder / name).is_file() and (folder / name).stat().st_size == size
        for name, size in sizes.items()
    )


def dequantised_copy(gguf: Path, load_gguf: Any) -> Path:
    """The folder of the plain copy of `gguf`, building it first where it is missing or broken.

    Args:
        gguf: the GGUF file.
        load_gguf: `() -> (tokenizer, model)`, loading the GGUF file itself (float32);
            only called when the copy has to be built.

    Returns:
        A folder that `from_pretrained` loads (model and tokenizer), with no GGUF file.
    """
    folder = gguf_cache_root() / content_hash(gguf)
    if is_complete(folder):
        return folder
    if folder.exists():
        log.warning("GGUF cache entry %s is incomplete; rebuilding it", folder)
        shutil.rmtree(folder, ignore_errors=True)
    log.info("dequantising %s once into %s", gguf.name, folder)
    tokenizer, model = load_gguf()
    make_folder(folder.parent, fix=CACHE_FIX)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        save_plain(model, tokenizer, staging, source=gguf)
        try:
            staging.rename(folder)
        except OSError:
            # Another process (a second rank) finished the same copy first: use theirs.
            if not is_complete(folder):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def save_plain(model: Any, tokenizer: Any, folder: Path, *, source: Path) -> None:
    """Save a GGUF-loaded model as an ordinary checkpoint, then the manifest that seals it.

    The loaded model is marked quantized and refuses `save_pretrained`, so its weights go
    into a model built from the same config without the quantization entry.
    """
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(model)(config).to(torch.float32)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {"source": source.name, "source_bytes": source.stat().st_size, "files": files}
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1), fix=CACHE_FIX)
