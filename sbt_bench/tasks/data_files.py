"""Every file a task needs under `--data-dir`, whether it is there, and where to get it.

`sbt-bench data check` shows these as one table, so a newcomer learns every missing file in
one go instead of one per run; `sbt-bench data fetch` prefetches what the hub holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sbt_bench.core.errors import SbtError
from sbt_bench.tasks import gavie
from sbt_bench.tasks.source import locate_image, read_task_data
from sbt_bench.tasks.spec import DatasetSpec, TaskSpec

# Files a reader opens beside its `local_file` (the reader's own knowledge, kept here once).
SIBLING_FILES: dict[str, tuple[str, ...]] = {"lrv_gavie_json": (gavie.ANNOTATIONS,)}

# Where each top-level folder of the data layout comes from (facts from the data's SOURCE.md
# files and the benchmarks' own READMEs): shown for every missing file.
DOWNLOAD_HINTS: dict[str, str] = {
    "truthfulqa": "github.com/sylinrl/TruthfulQA: TruthfulQA.csv and data/mc_task.json",
    "ethics": "people.eecs.berkeley.edu/~hendrycks/ethics.tar, unpacked as ethics/<subset>/",
    "pope": "github.com/AoiDragon/POPE: output/coco/coco_pope_{random,popular,adversarial}.json",
    "coco": "MS-COCO val2014 images (cocodataset.org, val2014.zip) as coco/val2014/*.jpg",
    "mme": "MME eval_tool.zip (BradyFU/Awesome-Multimodal-Large-Language-Models, branch "
    "Evaluation) for Your_Results/; images: MME_Benchmark_release_version.zip (hf darkyarding/MME)",
    "unicorn": "hf PahaII/vllm_safety_evaluation, safety_evaluation_benchmark_datasets.zip "
    "(ood/oodcv-vqa, ood/sketchy-vqa; images: OOD-CV phase-1/2, TU-Berlin sketches)",
    "coco_karpathy": "COCO Karpathy test split as coco_test.json (github.com/kanadn/diht)",
    "flickr30k_karpathy": "Flickr30k Karpathy test split as flickr30k_test.json "
    "(github.com/Artanic30/MacCap: data/flickr30k/)",
    "flickr30k": "Flickr30k images (flickr30k-images, non-commercial research terms)",
    "lrv_instruction": "github.com/FuxiaoLiu/LRV-Instruction: Evaluation/evaluation_set.json; "
    "vg_annotation.json from its download.txt",
    "visual_genome": "Visual Genome images VG_100K, VG_100K_2 (visualgenome.org)",
}


@dataclass(frozen=True)
class NeededFile:
    """One file (or one task's set of images) that tasks read under the data folder.

    Attributes:
        path: relative to the data folder; a set of images is `<folder>/<image>`.
        tasks: the tasks that read it.
        missing: how many of its files are absent (0 = present).
        total: how many files it stands for (1, or the number of images).
        note: what a reader should know: the first missing image, or why images are unknown.
        hub: the hub dataset that replaces it when no data folder is given, else None.
        from_hub: no data folder is given and the hub copy is read instead (nothing checked).
        optional: only some runs read it (a few-shot pool: `--num-fewshot`).
    """

    path: str
    tasks: tuple[str, ...]
    missing: int
    total: int = 1
    note: str = ""
    hub: str | None = None
    from_hub: bool = False
    optional: bool = False

    @property
    def present(self) -> bool:
        """Whether every file it stands for is there (or read from the hub instead)."""
        return self.missing == 0

    def status(self) -> str:
        """`present`, `missing`, `<m> of <n> missing`, or `hub` when read from the hub."""
        if self.from_hub:
            return "hub"
        if self.optional and not self.present:
            return "missing (optional)"
        if self.total > 1:
            return "present" if self.present else f"{self.missing} of {self.total} missing"
        return "present" if self.present else "missing"

    def hint(self) -> str:
        """Where the file comes from, by its top-level folder."""
        top = self.path.split("/", 1)[0]
        return DOWNLOAD_HINTS.get(top, "see the task's tasks/<benchmark>/README.md")


def list_needed_files(specs: Sequence[TaskSpec], data_dir: Path | None) -> list[NeededFile]:
    """Every file the tasks need under `data_dir`, merged across tasks, in first-seen order.

    Without a data folder a task with a hub copy reads the hub (its files show as `hub`);
    the other tasks' files are all missing.
    """
    merged: dict[str, NeededFile] = {}
    for spec in specs:
        for needed in _files_of(spec, data_dir):
            seen = merged.get(needed.path)
            if seen is None:
                merged[needed.path] = needed
            elif spec.task not in seen.tasks:
                merged[needed.path] = replace(seen, tasks=(*seen.tasks, spec.task))
    return list(merged.values())


def _files_of(spec: TaskSpec, data_dir: Path | None) -> Iterable[NeededFile]:
    task = spec.task
    hub = _hub_label(spec.dataset)
    if data_dir is None and hub is not None:
        yield NeededFile(spec.dataset.local_file, (task,), 0, note=hub, hub=hub, from_hub=True)
        return
    folder = data_dir or Path("/nonexistent-data-dir")
    for path in _question_files(spec):
        yield NeededFile(path, (task,), 0 if (folder / path).exists() else 1, hub=hub)
    if spec.fewshot is not None:
        path = spec.fewshot.local_file
        note = "only for --num-fewshot"
        missing = 0 if (folder / path).exists() else 1
        yield NeededFile(path, (task,), missing, note=note, hub=hub, optional=True)
    if spec.image is not None:
        yield _images_of(spec, folder)


def _images_of(spec: TaskSpec, data_dir: Path) -> NeededFile:
    """The task's image files, counted from its question file (unknown while that is absent)."""
    assert spec.image is not None
    pattern = f"{spec.image.folders[0]}/<image>"
    if not all((data_dir / p).exists() for p in _question_files(spec)):
        return NeededFile(pattern, (spec.task,), 1, note="unknown until the question file is there")
    try:
        records = read_task_data(spec.task, spec.dataset, data_dir).records
    except SbtError as err:
        return NeededFile(pattern, (spec.task,), 1, note=f"cannot list: {err}")
    images = {
        locate_image(spec.image, record, data_dir, spec.task, index)
        for index, record in enumerate(records)
    }
    absent = sorted(str(p.relative_to(data_dir)) for p in images if not p.is_file())
    note = f"first missing: {absent[0]}" if absent else ""
    return NeededFile(pattern, (spec.task,), len(absent), len(images), note)


def _question_files(spec: TaskSpec) -> list[str]:
    names = SIBLING_FILES.get(spec.dataset.reader, ())
    parent = Path(spec.dataset.local_file).parent
    return [spec.dataset.local_file, *(str(parent / n) for n in names)]


def _hub_label(dataset: DatasetSpec) -> str | None:
    if dataset.hub is None:
        return None
    config = f"/{dataset.hub_config}" if dataset.hub_config else ""
    pin = f"@{dataset.revision[:7]}" if dataset.revision else ""
    return f"{dataset.hub}{config}{pin}"
