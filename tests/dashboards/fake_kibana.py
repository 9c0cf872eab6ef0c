"""A stand-in for Kibana's import APIs on 127.0.0.1 that checks the documented request shape.

It refuses (400) any request without `kbn-xsrf`, answers 401 to wrong credentials, answers 503
("not ready") to the first `not_ready` requests, and reports the saved-object ids in
`fail_ids` as import errors. Everything it accepted is kept in `data_views` / `imported`.
"""

from __future__ import annotations

import base64
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeKibana:
    def __init__(self, username: str = "elastic", password: str = "kibana-pass") -> None:
        self.auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.not_ready = 0
        self.fail_ids: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.data_views: dict[str, dict[str, Any]] = {}
        self.imported: list[dict[str, Any]] = []
        self.filenames: list[str] = []
        self.problems: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                owner.requests.append(("POST", self.path))
                status, answer = owner.handle(self.path, dict(self.headers.items()), body)
                self._send(status, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKibana:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- request handling --------------------------------------------------------------
    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        headers = {k.lower(): v for k, v in headers.items()}
        if self.not_ready > 0:
            self.not_ready -= 1
            return 503, {
                "statusCode": 503,
                "error": "Service Unavailable",
                "message": "Kibana server is not ready yet",
            }
        if headers.get("kbn-xsrf") is None:
            self.problems.append(f"{path}: no kbn-xsrf header")
            return 400, {
                "statusCode": 400,
                "error": "Bad Request",
                "message": "Request must contain a kbn-xsrf header.",
            }
        if headers.get("authorization") != self.auth:
            return 401, {"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"}
        url = urlsplit(path)
        if url.path == "/api/data_views/data_view":
            return self._data_view(headers, body)
        if url.path == "/api/saved_objects/_import":
            return self._import(parse_qs(url.query), headers, body)
        return 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"}

    def _data_view(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not headers.get("content-type", "").startswith("application/json"):
            self.problems.append("data view: not JSON")
            return 400, {"statusCode": 400, "message": "expected JSON"}
        doc = json.loads(body)
        view = doc.get("data_view") or {}
        if not view.get("title") or not view.get("id"):
            self.problems.append(f"data view without title/id: {doc}")
            return 400, {"statusCode": 400, "message": "[request body.data_view.title]: required"}
        if view["id"] in self.data_views and doc.get("override") is not True:
            return 400, {"statusCode": 400, "message": f"Duplicate data view: {view['title']}"}
        self.data_views[view["id"]] = view
        return 200, {"data_view": view}

    def _import(
        self, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if query.get("overwrite") != ["true"]:
            self.problems.append(f"import without overwrite=true: {query}")
        content_type = headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            self.problems.append(f"import is not multipart: {content_type}")
            return 415, {"statusCode": 415, "message": "Unsupported Media Type"}
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        if "file" not in parts:
            self.problems.append(f"no multipart field 'file': {sorted(parts)}")
            return 400, {"statusCode": 400, "message": "[request body.file]: expected value"}
        part = parts["file"]
        filename = part.get_filename() or ""
        self.filenames.append(filename)
        if not filename.endswith(".ndjson"):
            return 415, {"statusCode": 415, "message": f"Invalid file extension {filename}"}
        objects = [json.loads(line) for line in part.get_content().splitlines() if line.strip()]
        success, errors = [], []
        for obj in objects:
            key = {"type": obj["type"], "id": obj["id"]}
            title = obj["attributes"].get("title", "")
            if obj["id"] in self.fail_ids:
                errors.append(
                    {
                        **key,
                        "title": title,
                        "meta": {"title": title},
                        "error": {
                            "type": "missing_references",
                            "references": [{"type": "index-pattern", "id": "gone"}],
                        },
                    }
                )
            else:
                self.imported.append(obj)
                success.append({**key, "meta": {"title": title}, "overwrite": True})
        return 200, {
            "success": not errors,
            "successCount": len(success),
            "successResults": success,
            "errors": errors,
        }
