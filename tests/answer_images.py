"""`python -m tests.answer_images MODEL IMAGE`: one backend's greedy answers, as JSON on stdout.

The vLLM tests run each backend in a process of its own (in-process vLLM rewrites the
environment and thread settings of the process that hosts it).
"""

from __future__ import annotations

import json
import sys

from sbt_bench.backends import BackendOptions, build_backend, parse_model_spec
from sbt_bench.core.types import GenerationParams, Request


def main(model: str, image: str) -> None:
    """Print the answers to an image question and a text-only one (8 new tokens each)."""
    backend = build_backend(parse_model_spec(model), BackendOptions(dtype="float32"))
    requests = [
        Request("generate", "What is in the image?", GenerationParams(8), images=(image,)),
        Request("generate", "Q: Is this wrong? Answer:", GenerationParams(8)),
    ]
    answers = dict(backend.generate(requests))
    print("ANSWERS " + json.dumps([answers[i].text for i in range(len(requests))]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
