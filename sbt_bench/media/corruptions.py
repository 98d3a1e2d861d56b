"""ImageNet-C corruptions of images (MSCOCO-C), made deterministically and cached on disk.

The corruptions come from `imagecorruptions` as packaged by the maintained fork
`imagecorruptions-imaug` (the vision extra). The original 1.1.2 release breaks on today's
stack (`pkg_resources` is gone from setuptools >= 81, `multichannel` from scikit-image,
`np.float_` from NumPy 2); the fork fixes all three, and `tests/media/test_corruptions.py`
runs every corruption at every severity on a real photo to keep it that way.

A corrupted variant is a pure function of (image file name, corruption, severity): the
seed is derived from those three, so every machine makes the same pixels, and the file
is written once to the cache and read back afterwards.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError, missing_image, suggest
from sbt_bench.core.files import write_atomic

# The 15 ImageNet-C "common" corruptions then the 4 held-out "validation" ones, in the
# library's order; SBT's DEFAULT_IMAGE_C is the same 19 names.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)  # fmt: skip
SEVERITIES = (1, 2, 3, 4, 5)
_DISTRIBUTION = "imagecorruptions-imaug"
_INSTALL_HINT = 'pip install "sbt-bench[vision]" (or pip install imagecorruptions-imaug)'


def resolve_corruptions(names: Sequence[str]) -> tuple[str, ...]:
    """The corruption names a task asks for, with "all" expanded to every one, without repeats.

    Example:
        >>> resolve_corruptions(["fog", "all"])[:2]
        ('fog', 'gaussian_noise')
    """
    resolved: list[str] = []
    for name in names:
        expanded = CORRUPTIONS if name == "all" else (name,)
        for one in expanded:
            if one not in CORRUPTIONS:
                hint = suggest(one, CORRUPTIONS)
                raise SbtError(
                    f"unknown corruption {one!r}.{hint} "
                    f"Use 'all' or any of: {', '.join(CORRUPTIONS)}"
                )
            if one not in resolved:
                resolved.append(one)
    return tuple(resolved)


def corruption_seed(file_name: str, corruption: str, severity: int) -> int:
    """A 32-bit seed from the image's file name (not its folder), corruption and severity.

    The file name alone keys it so the same COCO image gets the same noise wherever the
    data dir lives.
    """
    digest = hashlib.sha256(f"{file_name}|{corruption}|{severity}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def corrupted_file(source: Path, corruption: str, severity: int, cache_dir: Path) -> Path:
    """The corrupted copy of `source` (PNG, lossless), made on first use and reused after.

    The cache path depends on the source's absolute path, size and modification time, the
    corruption, the severity and the library version, so an edited image or a new library
    never serves stale pixels. Writes go to a temporary file renamed into place, so
    parallel workers and killed runs never leave a half-written image behind.

    Args:
        source: the clean image file.
        corruption: one of `CORRUPTIONS`.
        severity: 1 (mild) to 5 (strong).
        cache_dir: root folder of the corrupted images.

    Returns:
        The path of the corrupted PNG.
    """
    try:
        stat = source.stat()
    except FileNotFoundError:
        raise missing_image(source) from None
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{_library_version()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    target = cache_dir / corruption / str(severity) / f"{source.stem}-{digest}.png"
    if target.is_file():
        return target
    from PIL import Image  # noqa: PLC0415 - vision extra

    with Image.open(source) as image:
        corrupted = corrupt_image(image.convert("RGB"), corruption, severity, source.name)
    buffer = io.BytesIO()
    corrupted.save(buffer, format="PNG")
    write_atomic(target, buffer.getvalue(), fix="set SBT_CACHE_DIR to a writable folder")
    return target


def corrupt_image(image: Any, corruption: str, severity: int, file_name: str) -> Any:
    """Corrupt an RGB PIL image with the seed of (file_name, corruption, severity).

    The library draws from NumPy's and Python's global generators (and, for glass_blur
    and impulse_noise, from a `seed` argument that otherwise defaults to fresh entropy),
    so all three are seeded here and the global states are restored afterwards: the
    caller's random streams are untouched.
    """
    _check(corruption, severity)
    import numpy as np  # noqa: PLC0415 - vision extra
    from PIL import Image  # noqa: PLC0415

    corrupt = _corrupt_function()
    width, height = image.size
    if min(width, height) < 32:  # noqa: PLR2004 - the library's own minimum
        raise SbtError(
            f"image {file_name} is {width}x{height}; corruptions need at least 32x32 pixels"
        )
    seed = corruption_seed(file_name, corruption, severity)
    kwargs = {"seed": seed} if corruption in _seeded_corruptions() else {}
    # The global generators are shared by every thread (the openai backend encodes images
    # in a pool): one corruption at a time, or seeds and draws would interleave.
    with _GLOBAL_RNG_LOCK, _seeded(seed):
        pixels = corrupt(
            np.asarray(image, dtype=np.uint8), severity=severity, corruption_name=corruption,
            **kwargs,
        )  # fmt: skip
    return Image.fromarray(np.asarray(pixels, dtype=np.uint8))


_GLOBAL_RNG_LOCK = threading.Lock()


def _check(corruption: str, severity: int) -> None:
    resolve_corruptions([corruption])
    if severity not in SEVERITIES:
        raise SbtError(f"corruption severity must be 1 to 5, got {severity}")


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    import numpy as np  # noqa: PLC0415 - vision extra

    numpy_state = np.random.get_state()  # noqa: NPY002 - the library reads the legacy global
    python_state = random.getstate()
    np.random.seed(seed)  # noqa: NPY002
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)


@cache
def _corrupt_function() -> Callable[..., Any]:
    try:
        from imagecorruptions import corrupt  # noqa: PLC0415 - vision extra
    except ImportError as err:
        raise SbtError(f"corrupted images need imagecorruptions ({err}); {_INSTALL_HINT}") from None
    return corrupt  # type: ignore[no-any-return]


@cache
def _seeded_corruptions() -> frozenset[str]:
    """Corruptions whose function takes a `seed` (else they draw from fresh OS entropy)."""
    _corrupt_function()
    from imagecorruptions import corruption_dict  # noqa: PLC0415

    return frozenset(
        name for name, fn in corruption_dict.items() if "seed" in inspect.signature(fn).parameters
    )


@cache
def _library_version() -> str:
    try:
        return metadata.version(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
