"""A webhook receiver for Portal's tests: verifies every delivery with the third-party
`standardwebhooks` library and reports each one as a JSON line on stdout.

    python webhook_receiver.py FAIL_RATE MAX_FAILURES_PER_ID

Prints {"port": N} once listening on 127.0.0.1. Each POST prints
{"webhook_id", "body_id", "type", "signatures", "verified": {name: bool}, "status"} and is
answered 204, or 500 with probability FAIL_RATE (but never more than MAX_FAILURES_PER_ID times
for the same webhook-id, so the retry schedule cannot run out). Secrets to verify with come on
stdin as JSON lines: {"secrets": {"name": "whsec_..."}}; verification uses all of them, each
alone.
"""

import json
import random
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

FAIL_RATE = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
MAX_FAILURES = int(sys.argv[2]) if len(sys.argv) > 2 else 3

lock = threading.Lock()
secrets = {}
failures = {}
out = sys.stdout


def emit(obj):
    with lock:
        out.write(json.dumps(obj) + "\n")
        out.flush()


def read_control():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        with lock:
            if "secrets" in msg:
                secrets.clear()
                secrets.update({k: Webhook(v) for k, v in msg["secrets"].items()})
        emit({"ack": msg.get("seq")})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            current = dict(secrets)
        verified = {}
        for name, wh in current.items():
            try:
                wh.verify(body, headers)
                verified[name] = True
            except WebhookVerificationError:
                verified[name] = False
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = {}
        msg_id = headers.get("webhook-id")
        status = 204
        with lock:
            if random.random() < FAIL_RATE and failures.get(msg_id, 0) < MAX_FAILURES:
                failures[msg_id] = failures.get(msg_id, 0) + 1
                status = 500
        emit(
            {
                "webhook_id": msg_id,
                "body_id": parsed.get("id"),
                "type": parsed.get("type"),
                "signatures": len((headers.get("webhook-signature") or "").split()),
                "verified": verified,
                "status": status,
            }
        )
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=read_control, daemon=True).start()
emit({"port": server.server_address[1]})
server.serve_forever()
