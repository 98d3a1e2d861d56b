"""The layer map holds: import-linter's contracts pass and catch a violation; no import cycle."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.needs import need_program

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sbt_bench", "sbt_train")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the tree at `cwd` (its pyproject.toml holds the contracts)."""
    exe = need_program("lint-imports")
    return subprocess.run(
        [exe, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


def test_layer_contracts_hold() -> None:
    """Every layer of sbt_bench imports only the layers below it, and sbt_train never the runner."""
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_layer_fails_with_the_chain(tmp_path: Path) -> None:
    """A metric that imports the runner (even lazily, inside a function) breaks the contract."""
    for name in (*PACKAGES, "pyproject.toml", "README.md"):
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / name)
    stats = tmp_path / "sbt_bench" / "metrics" / "stats.py"
    stats.write_text(
        stats.read_text()
        + "\n\ndef _upward() -> None:\n    from sbt_bench.evaluation import runner\n"
    )
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "sbt_bench.metrics.stats -> sbt_bench.evaluation.runner" in done.stdout


def iter_modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, file) of every module of the two packages."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules `path` imports anywhere in its body, function-level imports included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known}
    return found - {name}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` as a module path, or [] when it has none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state and (cycle := visit(child)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_import_cycles() -> None:
    """No chain of imports (lazy ones included) leads from a module back to itself."""
    modules = dict(iter_modules())
    known = set(modules)
    # Importing a.b.c also runs a.b's __init__; a module naming its own package is no edge.
    graph = {
        name: {m for m in imported_modules(path, name, known) if not name.startswith(f"{m}.")}
        for name, path in modules.items()
    }
    assert find_cycle(graph) == []


def test_cycle_finder_finds_a_planted_cycle() -> None:
    """The cycle check itself reports a three-module loop (so the test above can fail)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
