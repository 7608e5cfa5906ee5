"""`python -m interpret.serve REPORT_DIR`: serve a report folder on this machine, answering HTTP range requests.

Why: igv.html reads an indexed track (BGZF + .tbi) or an indexed FASTA (.fai) by byte ranges, the region shown;
`python -m http.server` ignores ranges and sends whole files (igv.js then cuts them, and warns on large ones).
"""
from __future__ import annotations

import argparse
import functools
import io
import os
import re
import sys
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus single byte ranges (`Range: bytes=a-b`, `a-`, `-n`): 206 with that slice."""

    def send_head(self):
        m = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if m is None or not os.path.isfile(path) or m.group(1) == m.group(2) == "":
            return super().send_head()  # no range, several ranges, a folder or a missing file: the usual answer
        size = os.path.getsize(path)
        if m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        else:  # the last n bytes
            start, end = max(0, size - int(m.group(2))), size - 1
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(end - start + 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(data)

    def end_headers(self):
        if self.command in ("GET", "HEAD") and "Range" not in self.headers:
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()


def server(folder: str, port: int = 8000, bind: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A threaded server of `folder` (not started: call serve_forever); port 0 picks a free one."""
    handler = functools.partial(RangeRequestHandler, directory=str(folder))
    return ThreadingHTTPServer((bind, port), handler)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interpret.serve",
                                 description="Serve a report folder (igv.html and its indexed tracks) on this machine.")
    ap.add_argument("folder", help="the report folder (the one with igv.html)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: this machine only)")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.folder):
        print(f"error: no such folder: {args.folder}", file=sys.stderr)
        return 2
    httpd = server(args.folder, args.port, args.bind)
    page = "igv.html" if os.path.isfile(os.path.join(args.folder, "igv.html")) else ""
    print(f"serving {os.path.abspath(args.folder)}: open http://localhost:{httpd.server_address[1]}/{page} "
          "(Ctrl-C stops)")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
