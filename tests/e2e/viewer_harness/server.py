"""Serve frontend/dist under /static/ as django-vite would, pages that embed a config the way
the Django templates do (json_script), the DICOM files, and stub reading APIs that record
every request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "style-src 'self'; img-src 'self' data: blob:; connect-src 'self'"
)
CSRF_TOKEN = "harness-csrf-token-0123456789abcdef"
PRESETS = [
    {"key": "abdomen", "label": "Abdomen", "width": 400, "center": 40},
    {"key": "liver", "label": "Liver", "width": 150, "center": 30},
    {"key": "soft", "label": "Soft tissue", "width": 350, "center": 50},
    {"key": "bone", "label": "Bone", "width": 1800, "center": 400},
    {"key": "lung", "label": "Lung", "width": 1500, "center": -600},
]
CRITERIA = [
    {
        "key": key,
        "label": label,
        "required": True,
        "levels": [
            {"value": value, "anchor": anchor}
            for value, anchor in enumerate(
                ["Unacceptable", "Poor", "Acceptable", "Good", "Excellent"], 1
            )
        ],
    }
    for key, label in [
        ("noise", "Image noise"),
        ("sharpness", "Sharpness"),
        ("confidence", "Diagnostic confidence"),
    ]
]
MIME = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".dcm": "application/dicom",
}


def entry_tags(dist: Path, entry: str) -> str:
    """The <link> and <script> tags django-vite writes for one manifest entry."""
    manifest = json.loads((dist / ".vite" / "manifest.json").read_text())
    css: list[str] = []
    seen: set[str] = set()

    def walk(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        chunk = manifest[key]
        for name in chunk.get("imports", []):
            walk(name)
        css.extend(path for path in chunk.get("css", []) if path not in css)

    walk(entry)
    links = "".join(f'<link rel="stylesheet" href="/static/{path}">' for path in css)
    script = manifest[entry]["file"]
    return f'{links}<script type="module" crossorigin src="/static/{script}"></script>'


def json_script(value: Any, element_id: str) -> str:
    text = json.dumps(value).replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def reading_config(images: dict[str, list[str]], **overrides: Any) -> dict[str, Any]:
    config = {
        "token": "t0k3n",
        "position": 3,
        "total": 20,
        "session": 1,
        "study": {
            "title": "Harness study",
            "instructions_html": "<p>Score <strong>each</strong> image.</p>",
        },
        "sides": [{"label": "A", "images": images["A"]}, {"label": "B", "images": images["B"]}],
        "criteria": CRITERIA,
        "scale": "absolute",
        "ask_preference": True,
        "ask_comment": True,
        "allow_revise": True,
        "read_only": False,
        "window": {"default_preset": "abdomen", "change_allowed": True, "presets": PRESETS},
        "answers": {"scores": [], "preference": None, "comment": ""},
        "seconds": 0,
        "api": {"answers": "/api/answers/", "submit": "/api/submit/", "log": "/api/log/"},
        "previous_url": "/previous/",
        "worklist_url": "/worklist/",
        "next_prefetch": {"A": images["A"][:2], "B": images["B"][:2]},
    }
    config.update(overrides)
    return config


@dataclass
class Harness:
    """Routes and recorded traffic; tests change `config`, `fail_puts` etc. between pages."""

    dist: Path
    images: dict[str, list[Path]]
    config: dict[str, Any] = field(default_factory=dict)
    case_config: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_puts: int = 0  # answer with 503 this many times before succeeding
    refuse_puts: str | None = None  # answer every PUT with 400 and this detail
    refuse_submit: dict[str, Any] | None = None  # answer submit with 400 and this body
    url: str = ""  # set once the server listens

    def image_urls(self, side: str) -> list[str]:
        return [f"/images/{side}/{path.name}" for path in self.images[side]]

    def page(self, entry: str, body: str, config_id: str, config: dict[str, Any]) -> bytes:
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Harness</title>"
            f"{entry_tags(self.dist, entry)}</head><body>{body}"
            f"{json_script(config, config_id)}</body></html>"
        ).encode()

    def record(self, method: str, path: str, headers: Any, body: bytes) -> None:
        self.requests.append(
            {
                "method": method,
                "path": path,
                "csrf": headers.get("X-CSRFToken"),
                "json": json.loads(body) if body else None,
            }
        )

    def api_calls(self, path: str) -> list[dict[str, Any]]:
        return [r for r in list(self.requests) if r["path"] == path]


def make_handler(harness: Harness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output quiet
            pass

        def send(
            self,
            status: int,
            body: bytes = b"",
            content_type: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            if body or status != 204:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def send_json(self, status: int, value: Any) -> None:
            self.send(status, json.dumps(value).encode(), "application/json")

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            page_headers = {
                "Content-Security-Policy": CSP,
                "Set-Cookie": f"csrftoken={CSRF_TOKEN}; Path=/",
            }
            if path == "/reading/":
                body = harness.page(
                    "src/reading/main.ts",
                    '<main id="reading-root"></main>',
                    "reading-config",
                    harness.config,
                )
                self.send(200, body, headers=page_headers)
            elif path == "/case/":
                body = harness.page(
                    "src/case_viewer/main.ts",
                    '<section id="case-viewer"></section>',
                    "case-viewer-config",
                    harness.case_config,
                )
                self.send(200, body, headers=page_headers)
            elif path in ("/next/", "/previous/", "/worklist/"):
                self.send(
                    200,
                    f"<!doctype html><title>{path}</title><h1>{path}</h1>".encode(),
                    headers=page_headers,
                )
            elif path.startswith("/static/"):
                self.send_file(harness.dist / path.removeprefix("/static/"))
            elif path.startswith("/images/"):
                _, _, side, name = path.split("/", 3)
                files = {p.name: p for p in harness.images.get(side, [])}
                if name in files:
                    self.send_file(files[name], {"Cache-Control": "private, max-age=600"})
                else:
                    self.send(404, b"not found")
            else:
                self.send(404, b"not found")

        def send_file(self, file: Path, headers: dict[str, str] | None = None) -> None:
            if not file.is_file():
                self.send(404, b"not found")
                return
            self.send(
                200, file.read_bytes(), MIME.get(file.suffix, "application/octet-stream"), headers
            )

        def read_body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_PUT(self) -> None:
            body = self.read_body()
            harness.record("PUT", self.path, self.headers, body)
            if self.path != "/api/answers/":
                self.send(404, b"")
            elif self.headers.get("X-CSRFToken") != CSRF_TOKEN:
                self.send_json(403, {"detail": "CSRF token missing."})
            elif harness.refuse_puts:
                self.send_json(400, {"detail": harness.refuse_puts})
            elif harness.fail_puts > 0:
                harness.fail_puts -= 1
                self.send_json(503, {"detail": "busy"})
            else:
                scores = json.loads(body)["scores"]
                needed = 2 * len(CRITERIA)
                self.send_json(
                    200, {"saved": True, "complete": len(scores) == needed, "missing": []}
                )

        def do_POST(self) -> None:
            body = self.read_body()
            harness.record("POST", self.path, self.headers, body)
            if self.headers.get("X-CSRFToken") != CSRF_TOKEN:
                self.send_json(403, {"detail": "CSRF token missing."})
            elif self.path == "/api/log/":
                self.send(204)
            elif self.path == "/api/submit/" and harness.refuse_submit:
                self.send_json(400, harness.refuse_submit)
            elif self.path == "/api/submit/":
                self.send_json(200, {"next_url": "/next/"})
            else:
                self.send(404, b"")

    return Handler


class HarnessServer:
    """The harness on 127.0.0.1 at a free port, in a background thread."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(harness))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HarnessServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
