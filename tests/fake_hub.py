"""A loopback stand-in for the hub's HTTP API (127.0.0.1 only) that records what arrives.

It answers the calls `huggingface_hub` makes to push small files to a dataset repo:
create the repo, paths-info (what the repo has), preupload (every file "regular") and
commit (NDJSON with base64 contents), keeping the files in memory.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from sbt_bench.results.hub_upload import git_blob_id


@dataclass
class FakeHub:
    """What the stand-in received: every request, the repos created, the files stored."""

    url: str = ""
    requests: list[tuple[str, str, bytes, dict[str, str]]] = field(default_factory=list)
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def commits(self) -> list[str]:
        """Paths of the commit requests received."""
        return [path for method, path, _, _ in self.requests if "/commit/" in path]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hub.requests.append(("POST", self.path, body, dict(self.headers)))
            path = self.path.split("?")[0]
            if path == "/api/repos/create":
                payload = json.loads(body)
                repo = f"{payload['organization']}/{payload['name']}"
                hub.repos[repo] = payload
                hub.files.setdefault(repo, {})
                return self._json({"url": f"{hub.url}/datasets/{repo}", "name": repo})
            parts = path.split("/")  # /api/datasets/<org>/<name>/<action>/<rev>
            repo, action = f"{parts[3]}/{parts[4]}", parts[5]
            stored = hub.files.setdefault(repo, {})
            if action == "paths-info":
                asked = parse_qs(body.decode()).get("paths", [])
                return self._json(
                    [
                        {
                            "type": "file",
                            "path": p,
                            "size": len(stored[p]),
                            "oid": git_blob_id(stored[p]),
                        }
                        for p in asked
                        if p in stored
                    ]
                )
            if action == "preupload":
                files = json.loads(body)["files"]
                return self._json(
                    {
                        "files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                            for f in files
                        ]
                    }
                )
            if action == "commit":
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        value = item["value"]
                        stored[value["path"]] = base64.b64decode(value["content"])
                return self._json(
                    {
                        "commitOid": "0" * 40,
                        "commitUrl": f"{hub.url}/datasets/{repo}/commit/0",
                        "pullRequestUrl": None,
                    }
                )
            self.send_error(404)
            return None

        def _json(self, value: Any) -> None:
            data = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serve() -> Iterator[FakeHub]:
    """A FakeHub listening on 127.0.0.1 (a free port) for the duration of the block."""
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
