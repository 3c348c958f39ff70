"""A stand-in for the shop's API, on 127.0.0.1: reservations and card charges."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ShopService:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.log: list[tuple[str, str, int, str]] = []  # method, path, status, idempotency key
        self.tries: dict[str, int] = {}
        self.reservations = 0
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                shop.handle(self)

            do_DELETE = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        size = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(size) or b"null")
        key = request.headers.get("Idempotency-Key", "")
        status, answer = self.answer(request.command, request.path, body, key, request.headers)
        self.log.append((request.command, request.path, status, key))
        payload = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def answer(self, method, path, body, key, headers):
        if method == "DELETE":
            return 200, {"released": path.rsplit("/", 1)[-1]}
        if path == "/reservations":
            self.reservations += 1
            return 201, {"id": f"r-{self.reservations}", "sku": body["sku"]}
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "bad api key"}
        if body["amount"] > 1000:
            return 402, {"error": "card declined"}
        self.tries[key] = self.tries.get(key, 0) + 1
        if self.tries[key] == 1:  # the first try of each charge finds the gateway busy
            return 503, {"error": "busy, try again"}
        return 200, {"charge_id": f"ch-{body['reservation']}", "amount": body["amount"]}

    def close(self) -> None:
        self.server.shutdown()
