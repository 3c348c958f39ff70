"""A stand-in for the notification service, on 127.0.0.1: ``run.py`` starts it when
``NOTIFY_URL`` is not set. It checks the bearer token, answers ``POST /notifications`` with the
new notification's id and ``DELETE /notifications/<id>`` with its withdrawal, and journals each
request it accepts."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from travel import journal


class Notifier:
    def __init__(self, token: str) -> None:
        self.token = token
        self.sent = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                service.handle(self)

            do_DELETE = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            status, answer = 401, {"error": "bad token"}
        elif request.command == "POST":
            self.sent += 1
            status, answer = 201, {"id": f"n-{self.sent}"}
        else:
            status, answer = 200, {"withdrawn": request.path.rsplit("/", 1)[-1]}
        if status < 300:
            journal.write(f"notifier: {request.command} {request.path}")
        payload = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def close(self) -> None:
        self.server.shutdown()
