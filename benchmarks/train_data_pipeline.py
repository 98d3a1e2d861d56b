"""Trainer start-up: tokenising N synthetic LLaVA records, before (in `__init__`) and after.

Command (repository root)::

    python benchmarks/train_data_pipeline.py --records 10000,100000

Each case runs in its own Python process, on SmolLM2's tokenizer with the vicuna_v1
template and max_length 2048, over text-only LLaVA-format records (two to four turns,
30-90 words each; a fixed seed):

* `before` — `SupervisedDataset` as on `main` before this change (`git show
  f7a1c62:sbt_train/data/dataset.py` by default, `--before-ref` to choose): every sample
  encoded in Python in `__init__`, held as Python tuples;
* `after, first run` — `datasets.map` with `--num-proc` processes into an empty cache;
* `after, cached` — the same call again: the Arrow file is memory-mapped.

Prints seconds to build the dataset, the process's peak RSS (MiB, from getrusage), its
RSS before building (torch, transformers and the records already in memory) and the
largest peak RSS of a `num_proc` worker process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from sbt_bench.backends.gguf_cache import dequantised_copy
from sbt_bench.backends.hf_loading import load_tokenizer_and_model
from sbt_bench.backends.models import parse_model_spec
from sbt_train.data.dataset import SupervisedDataset
from sbt_train.data.records import load_records
from sbt_train.templates import get_template

REPO = Path(__file__).resolve().parent.parent
WORDS = ("the", "a", "cat", "dog", "sat", "on", "mat", "image", "shows", "person", "red", "sky")


def synthetic_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """LLaVA-format conversations (no image) of random words."""
    rng = random.Random(seed)  # noqa: S311 - synthetic text, not security

    def text() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 90)))

    records = []
    for i in range(n):
        turns = []
        for _ in range(rng.randint(1, 2)):
            turns += [{"from": "human", "value": text()}, {"from": "gpt", "value": text()}]
        records.append({"id": str(i), "conversations": turns})
    return records


def current_rss_mib() -> float:
    """Resident memory of this process now (Linux /proc)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def old_dataset_class(ref: str, folder: Path) -> Any:
    """`SupervisedDataset` from `git show <ref>:sbt_train/data/dataset.py`."""
    source = subprocess.run(
        ["git", "show", f"{ref}:sbt_train/data/dataset.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = folder / "old_dataset.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_dataset", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module.SupervisedDataset


def run_case(case: str, data: Path, cache: Path, num_proc: int, ref: str) -> dict[str, float]:
    """Build the dataset once in this process; its timing and memory."""
    spec = parse_model_spec("smollm2")
    gguf = Path(spec.path) / str(spec.gguf_file)
    cpu, fp32 = torch.device("cpu"), torch.float32
    folder = dequantised_copy(gguf, lambda: load_tokenizer_and_model(spec, cpu, fp32))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    convs, _ = load_records(data, "llava")
    dataset_class = old_dataset_class(ref, cache) if case == "before" else SupervisedDataset
    kwargs = {} if case == "before" else {"cache_dir": cache, "num_proc": num_proc}
    before = current_rss_mib()
    start = time.perf_counter()
    dataset = dataset_class(convs, tokenizer, get_template("vicuna_v1"), 2048, **kwargs)
    seconds = time.perf_counter() - start
    _ = dataset[len(dataset) - 1]  # an item is readable (the cached file is really used)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "peak_mib": peak,
        "worker_peak_mib": workers,
        "rss_before_mib": before,
        "n": len(dataset),
    }


def main() -> None:
    """Run each case per record count in a subprocess and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="10000,100000")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--before-ref", default="f7a1c62")
    parser.add_argument("--cases", default="before,after", help="before, after or both")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, data, cache, num_proc = args.child
        print(json.dumps(run_case(case, Path(data), Path(cache), int(num_proc), args.before_ref)))
        return
    print("| records | case | build s | peak RSS MiB | RSS before MiB | worker peak MiB |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in (int(x) for x in args.records.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "records.json"
            data.write_text(json.dumps(synthetic_records(n)), encoding="utf-8")
            wanted = args.cases.split(",")
            cases = ["before"] if "before" in wanted else []
            cases += ["after, first run", "after, cached"] if "after" in wanted else []
            for case in cases:
                child = [case, str(data), tmp, str(args.num_proc)]
                out = subprocess.run(
                    [sys.executable, __file__, "--before-ref", args.before_ref, "--child", *child],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"| {n} | {case} | {row['seconds']:.1f} | {row['peak_mib']:.0f} "
                    f"| {row['rss_before_mib']:.0f} | {row['worker_peak_mib']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
