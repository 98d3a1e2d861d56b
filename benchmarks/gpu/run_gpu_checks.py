"""The GPU paths on one H100, in one prepared run (about 8 minutes): one table, one JSON file.

Needs only the project (installed or on PYTHONPATH), the benchmark data (`--data-dir`, the
shared data folder) and, for the lm-eval column, lm-eval 0.4.x importable (a small carried
wheel: it is pure Python). No download: the models are LLaMA-shaped, built from configs
with random weights, and the tokenizer is a 32k byte-level BPE trained here on the
benchmark text itself. Checks:

1. `score-<size>`: TruthfulQA mc1/mc2 (`--tq-limit`, all 817 by default) and ETHICS
   (`--ethics-limit` per subset) in bf16 by sbt-bench and by lm-eval's hf backend: wall
   time, tokens/s (sbt-bench's count of tokens run through the model) and peak GPU memory.
2. `auto-oom`: `--batch-size auto` under a 25% GPU memory cap: a packed row or batch that
   runs out of memory is halved; the metrics must equal the uncapped run's to 1e-4.
3. `device-map-spill`: `device_map: auto` with a 1 GiB GPU budget spills layers into CPU
   memory; the per-choice log-likelihoods must equal the all-GPU run's to 1e-3.
4. `train-<stage>`: a few bf16 steps of each trainer stage (text, pretrain, finetune) on
   the small model: tokens/s and MFU (6 x parameters x tokens/s over the H100's 989 TFLOP/s).

    python benchmarks/gpu/run_gpu_checks.py --data-dir shared/data --out $OUT/gpu.json
    python benchmarks/gpu/run_gpu_checks.py --dry-run     # the plan only (any machine)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
H100_BF16_FLOPS = 989e12
TQ_TASKS = "truthfulqa_mc1,truthfulqa_mc2"
ETHICS_TASKS = "ethics_cm,ethics_deontology,ethics_justice,ethics_utilitarianism,ethics_virtue"
# LLaMA shapes (vocabulary 32k): about 1.2B and 6.7B parameters.
SIZES: dict[str, dict[str, int]] = {
    "1b": {
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
    },
    "7b": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
    },
}


@dataclass(frozen=True)
class Check:
    """One row of the table: a command, where it writes, and what it measured."""

    name: str
    argv: tuple[str, ...]
    out: str
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class Row:
    """A finished check."""

    name: str
    ok: bool
    wall_s: float
    peak_gpu_gib: float | None
    tokens_per_s: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "shared" / "data")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/sbt-gpu"))  # noqa: S108
    parser.add_argument("--out", type=Path, default=Path("gpu_checks.json"))
    parser.add_argument("--sizes", default="1b,7b", help="model sizes to score: 1b,7b")
    parser.add_argument("--tq-limit", type=int, default=817)
    parser.add_argument("--ethics-limit", type=int, default=300)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--skip-lm-eval", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sizes.split(",")) - set(SIZES))
    if unknown:
        parser.error(f"--sizes: unknown {unknown}; use {sorted(SIZES)}")
    return args


def plan(args: argparse.Namespace) -> list[Check]:
    """Every check's command, in running order (model building happens before)."""
    work, data = args.work_dir, str(args.data_dir)
    sbt = (sys.executable, "-m", "sbt_bench", "run", "--device", "cuda", "--dtype", "bfloat16")
    checks: list[Check] = []
    for size in args.sizes.split(","):
        model = work / f"llama-{size}"
        for group, tasks, limit in (
            ("tq", TQ_TASKS, args.tq_limit),
            ("ethics", ETHICS_TASKS, args.ethics_limit),
        ):
            out = work / "out" / f"sbt-{size}-{group}"
            checks.append(
                Check(
                    f"sbt-{size}-{group}",
                    (
                        *sbt,
                        "--tasks",
                        tasks,
                        "--models",
                        f"hf:{model}",
                        "--limit",
                        str(limit),
                        "--data-dir",
                        data,
                        "--output-dir",
                        str(out),
                        "--batch-size",
                        "auto",
                    ),
                    str(out),
                )
            )
            if not args.skip_lm_eval:
                out = work / "out" / f"lm-eval-{size}-{group}"
                checks.append(
                    Check(
                        f"lm-eval-{size}-{group}",
                        (
                            sys.executable,
                            "-m",
                            "lm_eval",
                            "--model",
                            "hf",
                            "--model_args",
                            f"pretrained={model},dtype=bfloat16",
                            "--tasks",
                            f"sbtcmp_{group}",
                            "--include_path",
                            str(work / "lm_eval_tasks"),
                            "--batch_size",
                            "auto",
                            "--device",
                            "cuda",
                            "--output_path",
                            str(out),
                            "--limit",
                            str(limit),
                        ),
                        str(out),
                    )
                )
    small = work / f"llama-{args.sizes.split(',')[0]}"
    capped = (
        "-c",
        (
            "import sys,torch;torch.cuda.set_per_process_memory_fraction(0.25);"
            "from sbt_bench.cli import main;sys.exit(main(sys.argv[1:]))"
        ),
    )
    out = work / "out" / "auto-oom"
    checks.append(
        Check(
            "auto-oom",
            (
                sys.executable,
                *capped,
                *sbt[3:],
                "--tasks",
                TQ_TASKS,
                "--models",
                f"hf:{work / 'llama-7b' if '7b' in args.sizes else small}",
                "--limit",
                "100",
                "--data-dir",
                data,
                "--output-dir",
                str(out),
                "--batch-size",
                "auto",
            ),
            str(out),
        )
    )
    spill = work / "spill.yaml"
    out = work / "out" / "device-map-spill"
    checks.append(
        Check(
            "device-map-spill",
            (
                *sbt,
                "--tasks",
                TQ_TASKS,
                "--models",
                str(spill),
                "--limit",
                "50",
                "--data-dir",
                data,
                "--output-dir",
                str(out),
            ),
            str(out),
        )
    )
    for stage in ("text", "pretrain", "finetune"):
        out = work / "out" / f"train-{stage}"
        model = f"hf:{small}" if stage == "text" else str(work / "llava")
        data_file = REPO / "benchmarks/data/alpaca_truthful_40.json"
        fmt = "alpaca" if stage == "text" else "llava"
        extra = () if stage == "text" else ("--image-dir", str(work / "images"))
        if stage != "text":
            data_file = work / "llava_records.json"
        checks.append(
            Check(
                f"train-{stage}",
                (
                    sys.executable,
                    "-m",
                    "sbt_train",
                    stage,
                    "--model",
                    model,
                    "--data",
                    str(data_file),
                    "--format",
                    fmt,
                    *extra,
                    "--output-dir",
                    str(out),
                    "--max-steps",
                    str(args.train_steps),
                    "--batch-size",
                    "8",
                    "--bf16",
                    "--max-length",
                    "512",
                ),
                str(out),
            )
        )
    return checks


def build_inputs(args: argparse.Namespace) -> None:
    """Tokenizer, random models, the spill YAML, llava assembly and its records, lm-eval tasks."""
    import torch  # noqa: PLC0415 - GPU machine only
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(args.data_dir, work / "tokenizer")
    for size in args.sizes.split(","):
        folder = work / f"llama-{size}"
        if (folder / "config.json").is_file():
            continue
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            max_position_embeddings=4096,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **SIZES[size],
        )
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = LlamaForCausalLM(config).to(torch.bfloat16)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        del model
        torch.cuda.empty_cache()
    small = work / f"llama-{args.sizes.split(',')[0]}"
    (work / "spill.yaml").write_text(
        f"name: spill\nmodel: hf:{small}\ndevice_map: auto\nmax_memory: {{0: 1GiB, cpu: 100GiB}}\n",
        encoding="utf-8",
    )
    build_llava(small, work)
    if not args.skip_lm_eval:
        write_lm_eval_tasks(args)


def train_tokenizer(data_dir: Path, folder: Path) -> Any:
    """A 32k byte-level BPE trained on TruthfulQA and ETHICS text (saved, reused)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    if (folder / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(folder)
    files = [str(p) for p in (data_dir / "ethics").rglob("*.csv")]
    files += [str(p) for p in (data_dir / "truthfulqa").rglob("*") if p.is_file()]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=32000,
        special_tokens=["<pad>", "<s>", "</s>", "<image>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train(files, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",  # noqa: S106 - a token, not a password
        eos_token="</s>",  # noqa: S106
        pad_token="<pad>",  # noqa: S106
    )
    fast.save_pretrained(folder)
    return fast


def build_llava(lm: Path, work: Path) -> None:
    """CLIP ViT-L/14-336 shape (random) + the small LM -> llava folder; 64 image records."""
    from PIL import Image  # noqa: PLC0415
    from transformers import (  # noqa: PLC0415
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
    )

    if not (work / "llava" / "config.json").is_file():
        clip = work / "clip"
        config = CLIPVisionConfig(
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            image_size=336,
            patch_size=14,
        )
        CLIPVisionModel(config).save_pretrained(clip)
        CLIPImageProcessor(
            size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}
        ).save_pretrained(clip)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sbt_train",
                "assemble",
                "--vision",
                str(clip),
                "--model",
                f"hf:{lm}",
                "--output-dir",
                str(work / "llava"),
            ],
            check=True,
        )
    images = work / "images"
    images.mkdir(exist_ok=True)
    records = []
    for i in range(64):
        name = f"{i}.png"
        Image.new("RGB", (336, 336), (i * 4 % 256, 90, 200 - i)).save(images / name)
        records.append(
            {
                "id": str(i),
                "image": name,
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat colour is this picture?"},
                    {"from": "gpt", "value": f"It is a flat colour, number {i}."},
                ],
            }
        )
    (work / "llava_records.json").write_text(json.dumps(records), encoding="utf-8")


def write_lm_eval_tasks(args: argparse.Namespace) -> None:
    """The same items for lm-eval, through the CPU comparison's task writer (one tag a group)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from compare_data import (  # noqa: PLC0415
        find_harness_tasks_dir,
        write_datasets,
        write_task_yamls,
    )

    data = args.work_dir / "lm_eval_data"
    write_datasets(args.data_dir, data, args.tq_limit, args.ethics_limit)
    tasks = args.work_dir / "lm_eval_tasks"
    write_task_yamls(tasks, find_harness_tasks_dir(Path(sys.executable)), data)
    # compare_data tags the groups sbtcmp_truthfulqa and sbtcmp_ethics; name them tq/ethics.
    (tasks / "sbtcmp_truthfulqa_gen.yaml").unlink(missing_ok=True)  # no generation here
    for path in tasks.glob("*.yaml"):
        text = path.read_text(encoding="utf-8").replace("sbtcmp_truthfulqa\n", "sbtcmp_tq\n")
        path.write_text(text, encoding="utf-8")


def run_check(check: Check) -> Row:
    """Run one check, sampling the device's used memory (any process) every 0.2 s."""
    import torch  # noqa: PLC0415

    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            free, total = torch.cuda.mem_get_info()
            peak[0] = max(peak[0], total - free)
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    env = os.environ | dict(check.env) | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(check.argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    done.set()
    thread.join()
    row = Row(check.name, proc.returncode == 0, round(wall, 1), round(peak[0] / 2**30, 2))
    if proc.returncode != 0:
        row.detail["stderr"] = proc.stderr[-1500:]
    read_measures(row, Path(check.out))
    return row


def read_measures(row: Row, out: Path) -> None:
    """tokens/s and metrics from sbt-bench's results.json, or the trainer's summary."""
    for path in out.glob("*/results.json"):
        results = json.loads(path.read_text(encoding="utf-8"))
        timing = results.get("timing", {})
        if timing.get("seconds") and timing.get("tokens_processed"):
            row.tokens_per_s = round(timing["tokens_processed"] / timing["seconds"], 1)
        row.detail["metrics"] = {t: e["metrics"] for t, e in results["tasks"].items()}
    summary = out / "train_summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text(encoding="utf-8"))
        row.tokens_per_s = data.get("tokens_per_s")
        params = data.get("trainable_parameters") or 0
        if row.tokens_per_s:
            row.detail["mfu"] = round(6 * params * row.tokens_per_s / H100_BF16_FLOPS, 4)


def compare_runs(rows: dict[str, Row], work: Path, sizes: list[str]) -> None:
    """auto-oom equals the uncapped run; the spilled run's log-likelihoods equal all-GPU's."""
    capped = rows.get("auto-oom")
    plain = rows.get(f"sbt-{'7b' if '7b' in sizes else sizes[0]}-tq")
    if capped and plain and capped.ok and plain.ok:
        diffs = [
            abs(a - plain.detail["metrics"][t][m])
            for t, ms in capped.detail["metrics"].items()
            for m, a in ms.items()
            if isinstance(a, float)
        ]
        capped.detail["max_metric_diff_vs_uncapped"] = max(diffs, default=None)
        capped.ok = bool(diffs) and max(diffs) <= 1e-4
    spill = rows.get("device-map-spill")
    if spill and spill.ok:
        ours = _loglikelihoods(work / "out" / "device-map-spill")
        theirs = _loglikelihoods(work / "out" / f"sbt-{sizes[0]}-tq")
        diffs = [
            abs(a - b)
            for key, lls in ours.items()
            for a, b in zip(lls, theirs.get(key, []), strict=False)
        ]
        spill.detail["max_loglik_diff_vs_all_gpu"] = max(diffs, default=None)
        spill.ok = bool(diffs) and max(diffs) <= 1e-3


def _loglikelihoods(out: Path) -> dict[tuple[str, int], list[float]]:
    found: dict[tuple[str, int], list[float]] = {}
    for path in out.glob("*/samples_truthfulqa_mc*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            found[(path.name, int(record["id"]))] = record["loglikelihoods"]
    return found


def print_table(rows: list[Row]) -> None:
    """One markdown table of every check."""
    print("| check | ok | wall (s) | peak GPU (GiB) | tokens/s | notes |")
    print("|---|:---:|---:|---:|---:|---|")
    for row in rows:
        notes = {k: v for k, v in row.detail.items() if k not in ("metrics", "stderr")}
        print(
            f"| {row.name} | {'yes' if row.ok else 'NO'} | {row.wall_s} | {row.peak_gpu_gib} "
            f"| {row.tokens_per_s or ''} | {json.dumps(notes) if notes else ''} |"
        )


def main(argv: list[str] | None = None) -> int:
    """Build, run every check, print the table and write the JSON; 1 if any check failed."""
    args = parse_args(argv)
    checks = plan(args)
    if args.dry_run:
        for check in checks:
            print(f"{check.name}: {' '.join(check.argv)}")
        return 0
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        print("no CUDA device: run with --dry-run to see the plan", file=sys.stderr)
        return 2
    start = time.perf_counter()
    build_inputs(args)
    built = round(time.perf_counter() - start, 1)
    rows = {check.name: run_check(check) for check in checks}
    compare_runs(rows, args.work_dir, args.sizes.split(","))
    print_table(list(rows.values()))
    report = {
        "device": torch.cuda.get_device_name(0),
        "build_s": built,
        "rows": [asdict(r) for r in rows.values()],
    }
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0 if all(r.ok for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
