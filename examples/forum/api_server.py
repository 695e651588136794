"""A small forum API for the pipelines-of-pipelines example: boards -> posts -> comments, paginated.

    python examples/forum/api_server.py --port 8765

GET /boards?page=N                  -> {"items": [...], "page": N}            (page pagination, 2 per page)
GET /boards/{id}/posts?page=N       -> {"items": [...]}                      (page pagination, 2 per page)
GET /posts/{id}/comments?cursor=C   -> {"items": [...], "next_cursor": C|null} (cursor pagination)

``--fail PATH:N`` answers 503 to the first N requests for PATH (to show retries).
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

BOARDS, POSTS_PER_BOARD, COMMENTS_PER_POST, PAGE = 3, 3, 5, 2


def boards() -> list[dict]:
    return [{"id": b, "name": f"board {b}"} for b in range(1, BOARDS + 1)]


def posts(board: int) -> list[dict]:
    return [{"id": board * 100 + p, "board_id": board, "title": f"post {p} of board {board}"}
            for p in range(1, POSTS_PER_BOARD + 1)]


def comments(post: int) -> list[dict]:
    return [{"id": post * 1000 + c, "post_id": post, "text": f"comment {c} on {post}"}
            for c in range(1, COMMENTS_PER_POST + 1)]


class ForumServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], failures: dict[str, int] | None = None) -> None:
        super().__init__(address, _Handler)
        self.failures = dict(failures or {})
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ForumServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        with self.server.lock:
            self.server.requests[url.path] += 1
            if self.server.failures.get(url.path, 0) > 0:
                self.server.failures[url.path] -= 1
                self._json(503, {"error": "try again"})
                return
        if parts == ["boards"]:
            self._page(boards(), query)
        elif len(parts) == 3 and parts[0] == "boards" and parts[2] == "posts":
            self._page(posts(int(parts[1])), query)
        elif len(parts) == 3 and parts[0] == "posts" and parts[2] == "comments":
            items = comments(int(parts[1]))
            start = int(query.get("cursor") or 0)
            end = start + PAGE
            self._json(200, {"items": items[start:end], "next_cursor": str(end) if end < len(items) else None})
        else:
            self._json(404, {"error": f"no such resource {url.path}"})

    def _page(self, items: list[dict], query: dict[str, str]) -> None:
        page = int(query.get("page", "1"))
        self._json(200, {"items": items[(page - 1) * PAGE: page * PAGE], "page": page})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fail", action="append", default=[], help="PATH:N, answer 503 to N requests for PATH")
    args = parser.parse_args()
    failures = {path: int(n) for path, _, n in (f.rpartition(":") for f in args.fail)}
    server = ForumServer(("127.0.0.1", args.port), failures)
    print(f"forum API on {server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
