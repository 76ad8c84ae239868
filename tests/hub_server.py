"""A loopback stand-in for the Hugging Face Hub, for tests: the endpoints huggingface_hub 2.x uses.

Serves ``HEAD``/``GET /{org}/{name}/resolve/{revision}/{file}`` (with the ``X-Repo-Commit``,
``ETag`` and ``Content-Length`` headers ``hf_hub_download`` requires), and the write API that
``create_repo`` + ``upload_folder`` / ``create_commit`` use: ``/api/repos/create``, ``/api/validate-yaml``,
``/api/models/{repo}/preupload/{rev}`` (every file "regular") and ``/api/models/{repo}/commit/{rev}``
(NDJSON, base64 file contents). Repos live in memory. The server runs in a daemon thread on
127.0.0.1, answers only while its ``with`` block runs, and shuts itself down after ``lifetime_s``
in any case so that a hung test cannot leave it running.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """Commit hash -> the repo's files at that commit (dicts keep insertion order: last is head)."""
    private: bool = False

    @property
    def head(self) -> str:
        return next(reversed(self.snapshots))

    @property
    def files(self) -> dict[str, bytes]:
        return self.snapshots[self.head] if self.snapshots else {}

    def commit(self, files: dict[str, bytes], message: str, deleted: tuple[str, ...] = ()) -> str:
        tree = {name: data for name, data in {**self.files, **files}.items() if name not in deleted}
        digest = hashlib.sha1(f"{len(self.snapshots)}:{message}".encode())
        for name in sorted(tree):
            digest.update(name.encode() + hashlib.sha256(tree[name]).digest())
        self.snapshots[digest.hexdigest()] = tree
        return self.head


class FakeHub:
    """``with FakeHub() as hub: ...`` -> ``hub.endpoint`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, lifetime_s: float = 60.0) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._lifetime_s = lifetime_s
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(lifetime_s, self._server.shutdown)
        self._timer.daemon = True

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> str:
        """Create or update a repo with ``files``; returns the new commit hash."""
        with self._lock:
            return self.repos.setdefault(repo_id, Repo()).commit(files, "add files")

    def count(self, method: str, path_part: str) -> int:
        return sum(1 for m, p in self.requests if m == method and path_part in p)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_HEAD(self) -> None:
                self._resolve(body=False)

            def do_GET(self) -> None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                if parts[:2] == ["api", "models"] and len(parts) in (4, 6):  # repo_info
                    hub.requests.append(("GET", self.path))
                    repo = hub.repos.get(f"{parts[2]}/{parts[3]}")
                    if repo is None:
                        self._json(404, {"error": "Repository not found"}, code="RepoNotFound")
                    else:
                        self._json(200, {"id": f"{parts[2]}/{parts[3]}", "private": repo.private,
                                         "sha": repo.head})
                    return
                self._resolve(body=True)

            def do_POST(self) -> None:
                hub.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length)
                parts = urlsplit(self.path).path.strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    body = json.loads(payload)
                    repo_id = f"{body['organization']}/{body['name']}"
                    with hub._lock:
                        if repo_id not in hub.repos:
                            hub.repos[repo_id] = Repo(private=body.get("visibility") == "private")
                            hub.repos[repo_id].commit({}, "initial commit")
                    self._json(200, {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id})
                elif parts[:2] == ["api", "validate-yaml"]:
                    self._json(200, {"errors": [], "warnings": []})
                elif len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
                    files = json.loads(payload)["files"]
                    self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                "shouldIgnore": False} for f in files]})
                elif len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
                    self._commit(f"{parts[2]}/{parts[3]}", payload)
                else:
                    self._json(404, {"error": f"no such endpoint {self.path}"})

            def _commit(self, repo_id: str, payload: bytes) -> None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    self._json(404, {"error": "Repository not found"}, code="RepoNotFound")
                    return
                files, deleted, message = {}, [], "commit"
                for line in payload.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "header":
                        message = item["value"]["summary"]
                    elif item["key"] == "file":
                        files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    elif item["key"] == "deletedFile":
                        deleted.append(item["value"]["path"])
                    else:
                        self._json(400, {"error": f"unsupported operation {item['key']}"})
                        return
                with hub._lock:
                    oid = repo.commit(files, message, tuple(deleted))
                self._json(200, {"commitUrl": f"{hub.endpoint}/{repo_id}/commit/{oid}",
                                 "commitOid": oid})

            def _resolve(self, *, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
                if len(parts) < 5 or parts[2] != "resolve":
                    self._json(404, {"error": "not found"}, body=body)
                    return
                repo_id, revision, filename = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
                repo = hub.repos.get(repo_id)
                if repo is None:
                    self._json(404, {"error": "Repository not found"}, code="RepoNotFound", body=body)
                    return
                commit = repo.head if revision == "main" else revision
                if commit not in repo.snapshots:
                    self._json(404, {"error": "Revision not found"}, code="RevisionNotFound",
                               body=body)
                    return
                data = repo.snapshots[commit].get(filename)
                if data is None:
                    self._json(404, {"error": "Entry not found"}, code="EntryNotFound", body=body,
                               headers={"X-Repo-Commit": commit})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Repo-Commit", commit)
                # Like an LFS file on the Hub: the ETag is the content's sha256.
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _json(self, status: int, obj: Any, *, code: str | None = None, body: bool = True,
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if code:
                    self.send_header("X-Error-Code", code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(data)

        return Handler


def use_endpoint(monkeypatch: Any, endpoint: str) -> None:
    """Point huggingface_hub at ``endpoint``, as HF_ENDPOINT would have at import time."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        endpoint + "/{repo_id}/resolve/{revision}/{filename}")


def write_cache_entry(cache_dir: Path, repo_id: str, filename: str, data: bytes, *,
                      commit: str, ref: str | None = "main") -> Path:
    """Put a file into a Hugging Face cache by hand, in the real layout.

    ``models--ORG--NAME/blobs/<sha256>``, ``snapshots/<commit>/<filename>`` (a relative symlink to
    the blob) and ``refs/<ref>`` holding the commit hash. Returns the snapshot path.
    """
    repo_dir = cache_dir / ("models--" + repo_id.replace("/", "--"))
    blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    snapshot = repo_dir / "snapshots" / commit / filename
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    if snapshot.is_symlink() or snapshot.exists():
        snapshot.unlink()
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    if ref is not None:
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)
    return snapshot
