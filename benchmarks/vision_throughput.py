"""Images per second and peak memory of the llava backend over a POPE split.

Builds the tiny random LLaVA of the tests and a data dir with the real POPE question file
and synthetic images under the 500 COCO names it references, then evaluates the first N
questions in a fresh process for each N. Flat peak memory across N shows images are
streamed, not held.

    python benchmarks/vision_throughput.py [--sizes 500,1500,3000] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared" / "data"
TASK = "pope_random"


def prepare(work: Path) -> tuple[Path, Path]:
    """The tiny model and a data dir holding every image of the split."""
    from tests.tiny_models import build_tiny_llava  # noqa: PLC0415
    from tests.vision_data import link_question_files, write_images  # noqa: PLC0415

    model = build_tiny_llava(work / "model")
    data = link_question_files(SHARED, work / "data")
    write_images(data, SHARED, [TASK], limit=3000)
    return model, data


def run_child(model: Path, data: Path, limit: int, device: str, batch: str) -> None:
    """One evaluation in this process; prints its timing and peak RSS as JSON."""
    import torch  # noqa: PLC0415

    from sbt_bench.backends import BackendOptions, parse_model_spec  # noqa: PLC0415
    from sbt_bench.evaluation.config import parse_batch_size  # noqa: PLC0415
    from sbt_bench.evaluation.runner import RunConfig, evaluate_model  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as out:
        cfg = RunConfig(
            output_dir=Path(out),
            options=BackendOptions(device=device, batch_size=parse_batch_size(batch)),
            limit=limit,
            data_dir=data,
        )
        results = evaluate_model(parse_model_spec(f"llava:{model}"), [TASK], [], cfg)
    # The run's own timing: requests answered and scored, without imports and data loading.
    seconds = results["timing"]["seconds"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    print(json.dumps({"n": limit, "seconds": seconds, "peak_rss_mib": peak, "gpu_mib": gpu}))


def main() -> None:
    """Run each size in its own process and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="500,1500,3000")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", default="8")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "DATA", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, data, n = args.child
        run_child(Path(model), Path(data), int(n), args.device, args.batch_size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        model, data = prepare(Path(tmp))
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            command = [
                sys.executable, __file__, "--device", args.device, "--batch-size",
                args.batch_size, "--child", str(model), str(data), str(size),
            ]  # fmt: skip
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"| questions | seconds | images/s | peak RSS (MiB) | peak GPU (MiB) |  {args.device}")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        rate = row["n"] / row["seconds"]
        gpu = "-" if row["gpu_mib"] is None else f"{row['gpu_mib']:.0f}"
        print(
            f"| {row['n']} | {row['seconds']:.1f} | {rate:.1f} | {row['peak_rss_mib']:.0f} "
            f"| {gpu} |"
        )


if __name__ == "__main__":
    main()
