"""Text-only instruction tuning of the real SmolLM2-135M on CPU, then TruthfulQA-MC2 scoring.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/train_smollm2.py --out out/smollm2-run

Trains `sbt-train text --model smollm2` on benchmarks/data/alpaca_truthful_40.json, then scores
the base model and the checkpoint with `sbt-bench run --tasks truthfulqa_mc2 --limit 20`, and
prints one JSON line with the numbers recorded in benchmarks/TRAINING.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "alpaca_truthful_40.json"


def score(model: str, out: Path, data_dir: str, limit: int) -> float:
    """The truthfulqa_mc2 value sbt-bench reports for `model`."""
    cmd = [
        sys.executable,
        "-m",
        "sbt_bench",
        "run",
        "--tasks",
        "truthfulqa_mc2",
        "--models",
        model,
        "--limit",
        str(limit),
        "--data-dir",
        data_dir,
        "--output-dir",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    for path in sorted(out.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        tasks = data.get("tasks") if isinstance(data, dict) else None
        if tasks and "truthfulqa_mc2" in tasks:
            metrics = tasks["truthfulqa_mc2"]["metrics"]
            return float(next(iter(metrics.values())))
    raise SystemExit(f"no truthfulqa_mc2 result under {out}")


def main() -> None:
    """Train, score base and trained, print the summary."""
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, default=Path("out/smollm2-run"))
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--learning-rate", type=float, default=2e-5)
    p.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--skip-base", action="store_true")
    args = p.parse_args()
    ckpt = args.out / "text"
    cmd = [
        sys.executable,
        "-m",
        "sbt_train",
        "text",
        "--model",
        "smollm2",
        "--data",
        str(DATA),
        "--format",
        "alpaca",
        "--template",
        "vicuna_v1",
        "--output-dir",
        str(ckpt),
        "--max-steps",
        str(args.max_steps),
        "--learning-rate",
        str(args.learning_rate),
        "--batch-size",
        str(args.batch_size),
        "--max-length",
        "512",
    ]
    subprocess.run(cmd, check=True)
    summary = json.loads((ckpt / "train_summary.json").read_text(encoding="utf-8"))
    result = {
        k: summary[k]
        for k in (
            "steps",
            "first_loss",
            "final_loss",
            "losses",
            "tokens_per_s",
            "train_runtime_s",
            "samples",
        )
    }
    result["mc2_trained"] = score(
        f"hf:{ckpt}", args.out / "eval-trained", args.data_dir, args.limit
    )
    if not args.skip_base:
        result["mc2_base"] = score("smollm2", args.out / "eval-base", args.data_dir, args.limit)
    (args.out / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
