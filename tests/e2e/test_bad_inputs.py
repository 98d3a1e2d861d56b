"""Bad inputs a new user writes, beyond the catalogue: each exits 2 with one line, loses nothing.

Cases by kind: run flags, model YAMLs, task and group YAMLs, data records, answer files
for `score`, predict-only samples files, edited results folders (read by `compare`,
`leaderboard --base` and `report`), leaderboard specs and `sbt-train` flags. The harness
(tests/bench/bad_inputs.py) checks the exit status, the single error line and its needles,
no traceback, and that the two earlier results in the output folder are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.bad_inputs import Case, Place, build_earlier, check_refused, make_place

Builder = Callable[[Place], list[str]]

# --- builders --------------------------------------------------------------------------


def run(p: Place, *extra: str, tasks: str = "ethics_cm", model: str | None = None) -> list[str]:
    """`run` of the tiny model on the real data into the earlier results' folder."""
    args = ["run", "--tasks", tasks, "--models", model or f"hf:{p.model}", "--limit", "2"]
    if "--data-dir" not in extra:
        args += ["--data-dir", str(p.data)]
    return [*args, "--output-dir", str(p.out), *extra]


def model_yaml(extra: str) -> Builder:
    """A case builder: `run` with a model YAML on the tiny model plus one line."""

    def build(p: Place) -> list[str]:
        path = p.write("m.yaml", f"name: m\nmodel: hf:{p.model}\n{extra}\n")
        return run(p, model=str(path))

    return build


MC_TASK = {
    "task": "my_mc",
    "version": "1.0",
    "kind": "multiple_choice",
    "description": "my questions",
    "dataset": {"split": "test", "local_file": "my/items.jsonl", "reader": "json_lines"},
    "prompt": "Question: {question}\nAnswer:",
    "multiple_choice": {
        "choices_field": "options",
        "target_field": "answer",
        "metrics": {"acc": "choice_accuracy"},
    },
}
GEN_TASK = {
    "task": "my_gen",
    "version": "1.0",
    "kind": "generation",
    "description": "my questions",
    "dataset": {"split": "test", "local_file": "my/items.jsonl", "reader": "json_lines"},
    "prompt": "Question: {question}\nAnswer:",
    "generation": {"scorer": "exact_match", "references_field": "answers"},
}
GOOD_ROW = {"question": "Is it?", "options": ["yes", "no"], "answer": 0, "answers": ["yes"]}


def user_task(
    change: dict[str, object], rows: list[object] | None = None, base: dict[str, object] = MC_TASK
) -> Builder:
    """A case builder: `run` of a user task YAML (`base` updated by `change`) on its data."""

    def build(p: Place) -> list[str]:
        spec = json.loads(json.dumps(base))
        for dotted, value in change.items():
            target, *path = dotted.split(".")
            node = spec
            for part in [target, *path][:-1]:
                node = node[part]
            node[[target, *path][-1]] = value
        if "__delete__" in spec:
            del spec[spec.pop("__delete__")]
        p.write(f"tasks/{spec['task']}.yaml", json.dumps(spec))
        p.jsonl("data/my/items.jsonl", rows if rows is not None else [GOOD_ROW, GOOD_ROW])
        return run(
            p,
            "--include-path",
            str(p.tmp / "tasks"),
            "--data-dir",
            str(p.tmp / "data"),
            tasks=str(spec["task"]),
        )

    return build


def data_row(**fields: object) -> Builder:
    """A case builder: the good multiple-choice user task on one record with `fields` changed."""
    row = dict(GOOD_ROW) | fields
    return user_task({}, [GOOD_ROW, {k: v for k, v in row.items() if v is not DROP}])


DROP = object()


def data_file(content: bytes | None) -> Builder:
    """A case builder: the good user task on a data file of raw bytes (None: no file)."""

    def build(p: Place) -> list[str]:
        argv = user_task({})(p)  # type: ignore[operator]
        path = p.tmp / "data/my/items.jsonl"
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        return argv  # type: ignore[no-any-return]

    return build


def score(
    task: str, rows: list[object] | str | bytes, *extra: str, name: str = "a.jsonl"
) -> Builder:
    """A case builder: `score task --predictions <rows>` on the real data, first 12 items."""

    def build(p: Place) -> list[str]:
        if isinstance(rows, list):
            path = p.jsonl(f"answers/{name}", rows)
        else:
            path = p.write(f"answers/{name}", rows)
        return [
            "score",
            task,
            "--predictions",
            str(path),
            "--data-dir",
            str(p.data),
            "--limit",
            "2" if task.startswith("ethics") else "12",
            "--output-dir",
            str(p.out),
            *extra,
        ]

    return build


def pope_rows(p: Place) -> list[dict[str, object]]:
    from tests.e2e.bad_inputs import pope_answer_rows

    return pope_answer_rows(p.data)


def pope_score(edit: object) -> Builder:
    """A case builder: POPE random answers (12 lines) edited by `edit(rows)`."""

    def build(p: Place) -> list[str]:
        rows = pope_rows(p)
        edit(rows)  # type: ignore[operator]
        return score("pope_random", rows)(p)  # type: ignore[operator, no-any-return]

    return build


def mc_samples(rows: list[object], name: str = "samples_ethics_cm.jsonl") -> Builder:
    """A case builder: `score ethics_cm` from a predict-only samples file of `rows`."""
    return score("ethics_cm", rows, name=name)


def ll(item: str, values: object = (-1.0, -2.0), task: str = "ethics_cm") -> dict[str, object]:
    lls = values if isinstance(values, str) else list(values)  # type: ignore[call-overload]
    return {"task": task, "id": item, "loglikelihoods": lls}


def train(*flags: str, data: str = "good") -> Builder:
    """A case builder: `sbt-train text` on the tiny model with `flags`."""

    def build(p: Place) -> list[str]:
        rows = {
            "good": [{"instruction": "Say hi", "input": "", "output": "hi"}] * 4,
            "no answer": [{"instruction": "Say hi", "input": "", "output": ""}] * 4,
            "empty prompt": [{"instruction": " ", "input": "", "output": "hi"}] * 4,
            "NaN answer": [{"instruction": "Say hi", "input": "", "output": float("nan")}] * 4,
            "no records": [],
        }
        path = p.jsonl("train/alpaca.json", rows[data])
        args = ["text", "--model", f"hf:{p.model}", "--data", str(path), "--format", "alpaca"]
        if "--output-dir" not in flags:
            args += ["--output-dir", str(p.tmp / "trained")]
        return (
            [*args, "--max-steps", "1", *flags] if "--max-steps" not in flags else [*args, *flags]
        )

    return build


def tamper_results(edit: object, reader: str) -> Builder:
    """A case builder: edit the earlier `base` folder, then read it with `reader`."""

    def build(p: Place) -> list[str]:
        edit(p.out / "base")  # type: ignore[operator]
        if reader == "compare":
            return ["compare", str(p.out / "base"), str(p.out / "other")]
        if reader == "leaderboard":
            spec = p.write("spec.yaml", POPE_SPEC)
            return ["leaderboard", str(p.out), "--spec", str(spec), "--base", "base"]
        return ["report", str(p.out), "--base", "base", "--output", str(p.tmp / "r.html")]

    return build


POPE_SPEC = (
    "name: pope\ndescription: POPE\ncolumns:\n"
    "  - {label: F1, task: pope_random, metric: f1}\n"
    "  - {label: acc, task: pope_random, metric: accuracy}\n"
)


def edit_line(folder: Path) -> None:
    samples = folder / "samples_pope_random.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    lines[3] = (
        lines[3]
        .replace('"prediction": "no"', '"prediction": "yes"')
        .replace('"prediction": "yes"', '"prediction": "no"', 1)
    )
    lines[3] = lines[3].replace('"id": "3"', '"id": "3", "edited": 1')
    samples.write_text("".join(lines))


def drop_line(folder: Path) -> None:
    samples = folder / "samples_pope_random.jsonl"
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:-1]))


def delete_samples(folder: Path) -> None:
    (folder / "samples_pope_random.jsonl").unlink()


def results_edit(change: object) -> Builder:
    def edit(folder: Path) -> None:
        path = folder / "results.json"
        doc = json.loads(path.read_text())
        change(doc)  # type: ignore[operator]
        path.write_text(json.dumps(doc))

    return edit


def latin1(folder: Path) -> None:
    path = folder / "results.json"
    doc = json.loads(path.read_text())
    doc["model"]["name"] = "base"
    doc["note"] = "caf\u00e9"
    path.write_bytes(json.dumps(doc, ensure_ascii=False).encode("latin-1"))


TAMPERS = {
    "one samples line edited": (edit_line, ("samples_pope_random.jsonl", "sha256")),
    "last samples line cut": (drop_line, ("samples_pope_random.jsonl", "lines")),
    "samples file deleted": (delete_samples, ("samples_pope_random.jsonl", "missing")),
    "results.json as Latin-1": (latin1, ("results.json", "UTF-8")),
    "newer schema": (
        results_edit(lambda d: d.update(schema_version=99)),
        ("newer sbt-bench", "upgrade"),
    ),
    "samples entry renamed": (
        results_edit(lambda d: d["tasks"]["pope_random"]["samples"].update(file="x.jsonl")),
        ("samples.file",),
    ),
    "metric as text": (
        results_edit(lambda d: d["tasks"]["pope_random"]["metrics"].update(f1="high")),
        ("metrics.f1",),
    ),
}


def wrong_spec(text: str) -> Builder:
    def build(p: Place) -> list[str]:
        return ["leaderboard", str(p.out), "--spec", str(p.write("spec.yaml", text))]

    return build


CASES = [
    # run flags
    Case("seed -1", lambda p: run(p, "--seed", "-1"), ("--seed", "negative")),
    Case("seed word", lambda p: run(p, "--seed", "one"), ("--seed",)),
    Case("limit negative", lambda p: run(p, "--limit", "-1"), ("--limit",)),
    Case("limit 1.5", lambda p: run(p, "--limit", "1.5"), ("--limit", "fraction")),
    Case("limit word", lambda p: run(p, "--limit", "all"), ("--limit",)),
    Case("temperature nan", lambda p: run(p, "--gen-kwargs", "temperature=nan"), ("temperature",)),
    Case("temperature inf", lambda p: run(p, "--gen-kwargs", "temperature=inf"), ("temperature",)),
    Case("temperature -1", lambda p: run(p, "--gen-kwargs", "temperature=-1"), ("temperature",)),
    Case("top_p 2", lambda p: run(p, "--gen-kwargs", "top_p=2"), ("top_p",)),
    Case("max_new_tokens 0", lambda p: run(p, "--gen-kwargs", "max_new_tokens=0"), ("max_new",)),
    Case("max_new_tokens 1.5", lambda p: run(p, "--gen-kwargs", "max_new_tokens=1.5"), ("max_",)),
    Case("do_sample maybe", lambda p: run(p, "--gen-kwargs", "do_sample=maybe"), ("do_sample",)),
    Case("gen kwarg unknown", lambda p: run(p, "--gen-kwargs", "colour=red"), ("colour",)),
    Case("gen kwarg no value", lambda p: run(p, "--gen-kwargs", "temperature"), ("key=value",)),
    Case("unknown task", lambda p: run(p, tasks="ethics_cmm"), ("ethics_cmm",)),
    Case("num-fewshot -2", lambda p: run(p, "--num-fewshot", "-2"), ("num-fewshot",)),
    Case("data dir a file", lambda p: run(p, "--data-dir", str(p.write("f", "x"))), ("data dir",)),
    Case("data dir missing", lambda p: run(p, "--data-dir", str(p.tmp / "no")), ("does not",)),
    Case("unknown backend", lambda p: run(p, model="nope:xyz"), ("nope",)),
    # model YAMLs
    Case("chat template 'no'", model_yaml('apply_chat_template: "no"'), ("m.yaml", "apply_chat")),
    Case("chat template 3", model_yaml("apply_chat_template: 3"), ("apply_chat_template",)),
    Case("multiturn 'yes'", model_yaml('fewshot_as_multiturn: "yes"'), ("fewshot_as_multi",)),
    Case("batch size 2.5", model_yaml("batch_size: 2.5"), ("m.yaml", "batch_size")),
    Case("batch size word", model_yaml("batch_size: eight"), ("batch_size",)),
    Case("num_fewshot -1", model_yaml("num_fewshot: -1"), ("m.yaml", "num-fewshot")),
    Case("num_fewshot 1.5", model_yaml("num_fewshot: 1.5"), ("num_fewshot",)),
    Case("timeout nan", model_yaml("timeout: .nan"), ("timeout",)),
    Case("dtype number", model_yaml("dtype: 5"), ("dtype",)),
    Case("gen_kwargs nan", model_yaml("gen_kwargs: {temperature: .nan}"), ("gen_kwargs",)),
    Case("gen_kwargs top_p", model_yaml('gen_kwargs: "top_p=2"'), ("top_p",)),
    Case(
        "name number",
        lambda p: run(p, model=str(p.write("n.yaml", f"name: 5\nmodel: hf:{p.model}\n"))),
        ("n.yaml", "name"),
    ),
    Case("unknown model key", model_yaml("colour: red"), ("m.yaml", "colour")),
    Case("system instruction list", model_yaml("system_instruction: [a, b]"), ("system_instr",)),
    Case("trust_remote_code word", model_yaml('trust_remote_code: "false"'), ("trust_remote",)),
    Case("model yaml missing", lambda p: run(p, model=str(p.tmp / "none.yaml")), ("none.yaml",)),
    Case("model yaml a list", lambda p: run(p, model=str(p.write("l.yaml", "- a\n"))), ("l.yaml",)),
    # task and group YAMLs
    Case(
        "choices as a string",
        user_task(
            {
                "multiple_choice": {
                    "choices": "a,b",
                    "target_field": "answer",
                    "metrics": {"acc": "choice_accuracy"},
                }
            }
        ),
        ("my_mc.yaml", "choices", "list"),
    ),
    Case("metrics as a string", user_task({"multiple_choice.metrics": "acc"}), ("metrics",)),
    Case("delimiter number", user_task({"multiple_choice.target_delimiter": 5}), ("target_del",)),
    Case("kind unknown", user_task({"kind": "mc"}), ("kind", "multiple_choice")),
    Case("version float", user_task({"version": 1.5}), ("version",)),
    Case("multiple_choice null", user_task({"multiple_choice": None}), ("multiple_choice",)),
    Case("dataset a string", user_task({"dataset": "my/items.jsonl"}), ("dataset", "mapping")),
    Case("prompt number", user_task({"prompt": 5}), ("prompt",)),
    Case("description list", user_task({"description": ["a"]}), ("description",)),
    Case("choice_field typo", user_task({"multiple_choice.choice_field": "x"}), ("choice_field",)),
    Case("generation null", user_task({"generation": None}, base=GEN_TASK), ("generation",)),
    Case("stop a string", user_task({"generation.stop": "Answer:"}, base=GEN_TASK), ("stop",)),
    Case(
        "max_new_tokens 2.5",
        user_task({"generation.max_new_tokens": 2.5}, base=GEN_TASK),
        ("max_new_tokens",),
    ),
    Case(
        "max_new_tokens 0",
        user_task({"generation.max_new_tokens": 0}, base=GEN_TASK),
        ("max_new_tokens",),
    ),
    Case(
        "strip_answer 'no'",
        user_task({"generation.strip_answer": "no"}, base=GEN_TASK),
        ("strip_answer",),
    ),
    Case(
        "scorer unknown",
        user_task({"generation.scorer": "exact"}, base=GEN_TASK),
        ("my_gen", "scorer", "exact"),
    ),
    Case(
        "group tasks a string",
        lambda p: run(
            p,
            "--include-path",
            str(p.write("g/mine.yaml", "group: mine\ndescription: d\ntasks: ethics_cm\n").parent),
            tasks="mine",
        ),
        ("mine.yaml", "tasks"),
    ),
    Case(
        "group mean_of number",
        lambda p: run(
            p,
            "--include-path",
            str(
                p.write(
                    "g/mine.yaml", "group: mine\ndescription: d\ntasks: [ethics_cm]\nmean_of: 5\n"
                ).parent
            ),
            tasks="mine",
        ),
        ("mine.yaml", "mean_of"),
    ),
    # data records
    Case("label NaN", data_row(answer=float("nan")), ("my_mc", "item 1", "answer")),
    Case("label 1.5", data_row(answer=1.5), ("item 1", "answer")),
    Case("label true", data_row(answer=True), ("item 1", "answer")),
    Case("label word", data_row(answer="yes"), ("item 1", "answer")),
    Case("gold beyond choices", data_row(answer=5), ("item 1", "answer", "2 choices")),
    Case("gold negative", data_row(answer=-1), ("item 1", "answer")),
    Case("choices a string", data_row(options="yes,no"), ("item 1", "options", "list")),
    Case("one choice", data_row(options=["yes"]), ("item 1", "options")),
    Case("empty choice", data_row(options=["yes", " "]), ("item 1", "options")),
    Case("empty question", data_row(question=""), ("item 1", "question", "empty")),
    Case("null question", data_row(question=None), ("item 1", "question")),
    Case("no answer field", data_row(answer=DROP), ("item 1", "answer")),
    Case("data not UTF-8", data_file(b'{"question": "caf\xe9"}\n'), ("items.jsonl", "UTF-8")),
    Case("data malformed line", data_file(b'{"question": \n'), ("items.jsonl",)),
    Case("data file missing", data_file(None), ("items.jsonl",)),
    # answer files for score
    Case("answer a list", pope_score(lambda r: r[2].update(text=["yes"])), ("a.jsonl:3", "text")),
    Case("answer an object", pope_score(lambda r: r[2].update(text={"a": 1})), ("a.jsonl:3",)),
    Case(
        "unknown question id",
        pope_score(lambda r: r[0].update(question_id=999999)),
        ("a.jsonl:1", "999999"),
    ),
    Case("second answer", pope_score(lambda r: r.append(dict(r[0]))), ("a.jsonl:13", "second")),
    Case(
        "POPE lines without question",
        pope_score(lambda r: r.__setitem__(slice(None), [{"answer": "yes"}] * 12)),
        ("a.jsonl:1", "need their question"),
    ),
    Case("neither shape", pope_score(lambda r: r[0].pop("text")), ("a.jsonl:1",)),
    Case(
        "answers missing",
        lambda p: [
            "score",
            "pope_random",
            "--predictions",
            str(p.tmp / "x"),
            "--output-dir",
            str(p.out),
        ],
        ("do not exist",),
    ),
    Case("answers malformed", score("pope_random", '{"question_id": 1,\n'), ("a.jsonl:1",)),
    Case("answers not UTF-8", score("pope_random", b'{"text": "caf\xe9"}\n'), ("a.jsonl", "UTF-8")),
    Case("answers empty", score("pope_random", ""), ("a.jsonl", "no answer")),
    Case("answers short", pope_score(lambda r: r.pop()), ("1 of 12", "no answer")),
    Case("score unknown task", score("pope_randm", ""), ("pope_randm",)),
    Case("score judged task", score("gavie", ""), ("judge",)),
    Case("score limit word", score("pope_random", "", "--limit", "x"), ("--limit",)),
    Case(
        "another file under a used name",
        lambda p: score("pope_random", pope_rows(p), "--name", "base", name="b.jsonl")(p),  # type: ignore[operator]
        ("base", "tasks.pope_random", "--overwrite"),
    ),
    # predict-only samples files
    Case(
        "samples of another task",
        mc_samples([ll("0"), ll("1")], "samples_ethics_justice.jsonl"),
        ("ethics_justice", "ethics_cm"),
    ),
    Case(
        "samples line of another task",
        mc_samples([ll("0"), ll("1", task="ethics_justice")]),
        ("samples_ethics_cm.jsonl:2", "task"),
    ),
    Case(
        "three lls for two choices",
        mc_samples([ll("0", (-1, -2, -3)), ll("1")]),
        (":1", "loglikelihoods", "3 values"),
    ),
    Case("one ll", mc_samples([ll("0", (-1,)), ll("1")]), (":1", "loglikelihoods")),
    Case("ll as text", mc_samples([ll("0"), ll("1", ("a", "b"))]), (":2", "loglikelihoods")),
    Case("ll NaN", mc_samples([ll("0"), ll("1", (float("nan"), -1))]), (":2",)),
    Case("ll true", mc_samples([ll("0"), ll("1", (True, -1))]), (":2",)),
    Case("lls not a list", mc_samples([ll("0"), ll("1", "-1,-2")]), (":2", "multiple-choice")),
    Case("unknown item", mc_samples([ll("0"), ll("1"), ll("x")]), (":3", "item x")),
    Case("item twice", mc_samples([ll("0"), ll("1"), ll("1")]), (":3", "item 1")),
    Case("no lls", mc_samples([ll("0"), {"task": "ethics_cm", "id": "1"}]), (":2",)),
    Case("greedy flags short", mc_samples([ll("0"), ll("1") | {"is_greedy": [True]}]), (":2",)),
    Case("samples unanswered", mc_samples([ll("0")]), ("1 of 2", "no answer")),
    # leaderboard specs
    Case(
        "spec unknown task",
        wrong_spec(
            POPE_SPEC.replace("task: pope_random, metric: f1", "task: pope_rnd, metric: f1")
        ),
        ("F1", "unknown task", "pope_rnd"),
    ),
    Case(
        "spec unknown metric",
        wrong_spec(POPE_SPEC.replace("metric: f1", "metric: f2")),
        ("F1", "f2", "f1"),
    ),
    Case(
        "spec unknown group",
        wrong_spec(POPE_SPEC.replace("task: pope_random, metric: f1", "group: popes, metric: f1")),
        ("F1", "unknown group", "popes"),
    ),
    Case(
        "spec columns a string",
        wrong_spec("name: x\ndescription: d\ncolumns: pope_random\n"),
        ("spec.yaml", "columns"),
    ),
    Case("spec no columns", wrong_spec("name: x\ndescription: d\ncolumns: []\n"), ("columns",)),
    Case("spec extra key", wrong_spec(POPE_SPEC + "colour: red\n"), ("colour",)),
    Case("spec sort_by unknown", wrong_spec(POPE_SPEC + "sort_by: F2\n"), ("sort_by", "F2")),
    Case(
        "spec both task and group",
        wrong_spec(
            POPE_SPEC.replace(
                "task: pope_random, metric: f1", "task: pope_random, group: pope, metric: f1"
            )
        ),
        ("exactly one",),
    ),
    Case("spec label number", wrong_spec(POPE_SPEC.replace("label: F1", "label: 1")), ("label",)),
    Case("spec missing", lambda p: ["leaderboard", str(p.out), "--spec", "nope"], ("nope",)),
    Case(
        "base unknown",
        lambda p: [
            "leaderboard",
            str(p.out),
            "--spec",
            str(p.write("spec.yaml", POPE_SPEC)),
            "--base",
            "nobody",
        ],
        ("--base", "nobody"),
    ),
    # other readers and writers
    Case(
        "compare no results",
        lambda p: ["compare", str(p.out / "base"), str(p.tmp)],
        ("no results.json",),
    ),
    Case(
        "compare seed -1",
        lambda p: ["compare", str(p.out / "base"), str(p.out / "other"), "--seed", "-1"],
        ("--seed",),
    ),
    Case(
        "report over another file",
        lambda p: ["report", str(p.out), "--output", str(p.write("notes.html", "<p>my notes</p>"))],
        ("notes.html", "--overwrite"),
    ),
    # sbt-train flags and outputs
    Case("max-steps 0", train("--max-steps", "0"), ("--max-steps", "got 0"), "sbt-train"),
    Case("max-steps -5", train("--max-steps", "-5"), ("--max-steps", "got -5"), "sbt-train"),
    Case("max-steps word", train("--max-steps", "all"), ("--max-steps",), "sbt-train"),
    Case("train seed -1", train("--seed", "-1"), ("--seed",), "sbt-train"),
    Case("learning rate nan", train("--learning-rate", "nan"), ("--learning-rate",), "sbt-train"),
    Case("learning rate 0", train("--learning-rate", "0"), ("--learning-rate",), "sbt-train"),
    Case("learning rate -1", train("--learning-rate", "-1"), ("--learning-rate",), "sbt-train"),
    Case("epochs 0", train("--epochs", "0"), ("--epochs",), "sbt-train"),
    Case("batch size 0", train("--batch-size", "0"), ("--batch-size", "equal to 1"), "sbt-train"),
    Case("grad accum 0", train("--grad-accum", "0"), ("--grad-accum", "equal to 1"), "sbt-train"),
    Case("max length 4", train("--max-length", "4"), ("--max-length", "equal to 8"), "sbt-train"),
    Case("sample 0", train("--sample", "0"), ("--sample",), "sbt-train"),
    Case("save steps -1", train("--save-steps", "-1"), ("--save-steps",), "sbt-train"),
    Case("lora r 0", train("--lora-r", "0"), ("--lora-r",), "sbt-train"),
    Case("format unknown", train("--format", "csv"), ("--format", "csv"), "sbt-train"),
    Case("template unknown", train("--template", "chatml9"), ("chatml9",), "sbt-train"),
    Case("recipe missing", train("--recipe", "nope"), ("nope",), "sbt-train"),
    Case("set unknown", train("--set", "colour=red"), ("colour",), "sbt-train"),
    Case("set max_steps word", train("--set", "max_steps=abc"), ("max_steps",), "sbt-train"),
    Case("set warmup 2", train("--set", "warmup_ratio=2"), ("warmup_ratio",), "sbt-train"),
    Case("report-to unknown", train("--report-to", "mlflow"), ("mlflow",), "sbt-train"),
    Case("no answer turn", train(data="no answer"), ("alpaca.json", "no usable"), "sbt-train"),
    Case("empty prompts", train(data="empty prompt"), ("alpaca.json", "no usable"), "sbt-train"),
    Case("NaN answers", train(data="NaN answer"), ("alpaca.json", "no usable"), "sbt-train"),
    Case("no records", train(data="no records"), ("alpaca.json",), "sbt-train"),
    Case(
        "output dir a file",
        lambda p: train("--output-dir", str(p.write("f.txt", "x")))(p),  # type: ignore[operator]
        ("--output-dir", "f.txt", "file"),
        "sbt-train",
    ),
    Case(
        "output dir used",
        lambda p: train("--output-dir", str(p.out / "base"))(p),  # type: ignore[operator]
        ("--output-dir", "base", "--overwrite"),
        "sbt-train",
    ),
    Case(
        "data output exists",
        lambda p: [
            "data",
            str(p.jsonl("d.json", [])),
            "--output",
            str(p.out / "base" / "results.json"),
        ],
        ("--output", "--overwrite"),
        "sbt-train",
    ),
    Case(
        "assemble into used",
        lambda p: [
            "assemble",
            "--vision",
            str(p.tmp),
            "--model",
            "x",
            "--output-dir",
            str(p.out / "base"),
        ],
        ("--output-dir", "--overwrite"),
        "sbt-train",
    ),
    Case(
        "merge into used",
        lambda p: ["merge", str(p.tmp), "--output-dir", str(p.out / "other")],
        ("--output-dir", "--overwrite"),
        "sbt-train",
    ),
    Case(
        "convert-llava into used",
        lambda p: ["convert-llava", str(p.tmp), str(p.out / "base")],
        ("base", "--overwrite"),
    ),
]
CASES += [
    Case(f"{kind}: {reader}", tamper_results(edit, reader), needles)
    for kind, (edit, needles) in TAMPERS.items()
    for reader in ("compare", "leaderboard", "report")
]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The two finished results every case's output folder starts with."""
    return build_earlier(data_dir, tmp_path_factory.mktemp("earlier"))


@pytest.fixture
def place(tmp_path: Path, tiny_model_dir: Path, data_dir: Path, earlier: Path) -> Place:
    """A scratch place whose output folder holds a copy of the earlier results."""
    return make_place(tmp_path, tiny_model_dir, data_dir, earlier)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_loses_nothing(
    case: Case, place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad input exits 2 with one error line naming its file or field; nothing earlier changes."""
    check_refused(case, place, capsys)


def test_the_suite_is_large_enough() -> None:
    """Issue 21 asks for at least 120 bad inputs beyond the catalogue."""
    assert len(CASES) >= 120
