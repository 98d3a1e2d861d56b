"""Model backends, registered lazily so `sbt-bench list` never imports torch."""

from __future__ import annotations

from collections.abc import Callable

from sbt_bench.backends.base import Backend, BackendOptions, fingerprint
from sbt_bench.backends.models import MODEL_ALIASES, parse_model_spec
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import ModelSpec

BackendFactory = Callable[[ModelSpec, BackendOptions], Backend]

BACKENDS: Registry[BackendFactory] = Registry("backend")
BACKENDS.register("hf", "sbt_bench.backends.hf:HFBackend")
BACKENDS.register("llava", "sbt_bench.backends.llava:LlavaBackend")
BACKENDS.register("openai", "sbt_bench.backends.openai_api:OpenAIBackend")
BACKENDS.register("openai-completions", "sbt_bench.backends.openai_api:OpenAIBackend")


def accepts_images(spec: ModelSpec) -> bool:
    """Whether the spec's backend shows images to its model (imports the backend's module).

    A backend says so with an `accepts_images(spec)` static method; one that does not is
    text-only.
    """
    declared = getattr(BACKENDS.get(spec.backend), "accepts_images", None)
    return bool(declared(spec)) if declared is not None else False


def build_backend(spec: ModelSpec, options: BackendOptions) -> Backend:
    """Instantiate the backend named by the spec (this loads the model)."""
    return BACKENDS.get(spec.backend)(spec, options)


__all__ = [
    "BACKENDS",
    "MODEL_ALIASES",
    "Backend",
    "BackendOptions",
    "ModelSpec",
    "accepts_images",
    "build_backend",
    "fingerprint",
    "parse_model_spec",
]
