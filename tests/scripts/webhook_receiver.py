# SPDX-License-Identifier: MIT
"""A webhook receiver for tests: an HTTP server on 127.0.0.1 (ephemeral
port, its own thread) that records every request (method, path, headers,
body) and answers 200, or 500 to the first fail_first requests so a test
can watch the sender retry. `delay` seconds before each answer widen the
window a test kills the sender in."""
import http.server
import json
import threading
import time


class WebhookReceiver:
    def __init__(self, fail_first=0, delay=0.0):
        self.fail_first = fail_first
        self.delay = delay
        self.requests = []  # every request, failed ones included: dicts
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode()
                with receiver.lock:
                    failed = len(receiver.requests) < receiver.fail_first
                    try:
                        parsed = json.loads(body)
                    except ValueError:
                        parsed = None
                    receiver.requests.append({
                        "method": "POST", "path": self.path, "headers": dict(self.headers),
                        "body": body, "json": parsed, "status": 500 if failed else 200})
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(500 if failed else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def delivered(self):
        """The requests answered 200."""
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]
