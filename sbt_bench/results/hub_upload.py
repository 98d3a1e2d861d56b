"""`--push-to-hub REPO_ID`: results, samples, EEE records or the report to a hub dataset.

Through `huggingface_hub`: the dataset repository is created private (unless it exists),
the remote files' git blob ids are read, and only files whose bytes differ are sent,
in commits of `CHUNK` files. So a rerun after a failure sends what is missing
(resumable) and a rerun after success sends nothing (idempotent). The token comes from
the environment (`HF_TOKEN`) and goes only into request headers: sbt-bench never
writes it to a file. The response cache (`cache.sqlite*`) stays local.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sbt_bench.core.errors import SbtError

CHUNK = 50
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# Local-only files: the response cache is large, and a rerun rebuilds nothing from it.
_LOCAL_ONLY = ("cache.sqlite",)


@dataclass(frozen=True)
class UploadReport:
    """What one push did: the files sent and the ones the hub already had."""

    repo_id: str
    uploaded: tuple[str, ...]
    unchanged: tuple[str, ...]


def hub_token() -> str:
    """The hub token from the environment, or a one-line error saying how to give one."""
    for name in TOKEN_VARIABLES:
        if token := os.environ.get(name):
            return token
    raise SbtError(
        "--push-to-hub needs a hub token: set HF_TOKEN in the environment "
        "(sbt-bench reads it from there and never writes it to a file)"
    )


def git_blob_id(data: bytes) -> str:
    """The git blob sha1 of `data`: the `oid` the hub reports for a regular file.

    Example:
        >>> git_blob_id(b"")
        'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def push_files(
    files: Sequence[tuple[Path, str]], repo_id: str, *, private: bool = True
) -> UploadReport:
    """Upload (local path, path in repo) pairs whose content the hub does not have yet."""
    from huggingface_hub import CommitOperationAdd, HfApi  # noqa: PLC0415 - only when pushing

    token = hub_token()
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        remote = _remote_blob_ids(api, repo_id, [name for _, name in files])
        changed = [(p, n) for p, n in files if remote.get(n) != git_blob_id(p.read_bytes())]
        for start in range(0, len(changed), CHUNK):
            chunk = changed[start : start + CHUNK]
            api.create_commit(
                repo_id,
                [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(p)) for p, n in chunk],
                commit_message=f"sbt-bench: {len(chunk)} file(s)",
                repo_type="dataset",
            )
    except _network_errors() as err:
        raise SbtError(
            f"--push-to-hub {repo_id}: the hub refused or could not be reached "
            f"({_one_line(err)}); the files are saved locally, rerun to upload what is missing"
        ) from None
    sent = {n for _, n in changed}
    return UploadReport(
        repo_id,
        tuple(n for _, n in files if n in sent),
        tuple(n for _, n in files if n not in sent),
    )


def folder_files(folder: Path, prefix: str = "") -> list[tuple[Path, str]]:
    """Every file under `folder` (the response cache left out) with its path in the repo."""
    return [
        (path, f"{prefix}{path.relative_to(folder).as_posix()}")
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(_LOCAL_ONLY)
    ]


def _remote_blob_ids(api: object, repo_id: str, paths: Sequence[str]) -> dict[str, str]:
    """Path -> blob id of the files the repository already has (of those asked about)."""
    from huggingface_hub import HfApi  # noqa: PLC0415
    from huggingface_hub.hf_api import RepoFile  # noqa: PLC0415

    assert isinstance(api, HfApi)
    found: dict[str, str] = {}
    for start in range(0, len(paths), CHUNK):
        infos = api.get_paths_info(repo_id, list(paths[start : start + CHUNK]), repo_type="dataset")
        found |= {i.path: i.blob_id for i in infos if isinstance(i, RepoFile)}
    return found


def _network_errors() -> tuple[type[Exception], ...]:
    """The hub's HTTP errors, OS errors, and the HTTP library's transport errors.

    huggingface_hub talks through httpx (or, in some builds, its fork httpx2), whose
    connection errors are not OSErrors: each that is installed is caught.
    """
    import importlib  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    from huggingface_hub.errors import HfHubHTTPError  # noqa: PLC0415

    transports = [
        importlib.import_module(name).TransportError
        for name in ("httpx", "httpx2")
        if importlib.util.find_spec(name) is not None
    ]
    return (HfHubHTTPError, OSError, *transports)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]
