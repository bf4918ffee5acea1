"""A back-channel logout receiver (OpenID Connect Back-Channel Logout 1.0, section 2.5-2.8) for the
integration tests. Every POSTed logout_token is verified with the third-party PyJWT library against
Portal's JWKS and checked against every rule of section 2.6; the outcome is printed as one JSON line
and answered 200 (valid) or 400 (invalid).

usage: backchannel_receiver.py <issuer> <client_id> [port]   (port 0 or absent: any free port)
The first line printed is {"port": N}.
"""

import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

ISSUER = sys.argv[1]
AUDIENCE = sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 0
EVENT = "http://schemas.openid.net/event/backchannel-logout"
JWKS = jwt.PyJWKClient(ISSUER + "/.well-known/jwks.json", cache_keys=False)


def check(token):
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "logout+jwt":
        raise ValueError("typ header is %r, not logout+jwt" % header.get("typ"))
    key = JWKS.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
    )
    if "sub" not in claims and "sid" not in claims:
        raise ValueError("neither sub nor sid")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise ValueError("events lacks the back-channel logout member as an object")
    if "nonce" in claims:
        raise ValueError("a logout token must not carry a nonce")
    return header, claims


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode()
        form = urllib.parse.parse_qs(body)
        report = {"path": self.path, "content_type": self.headers.get("content-type", "")}
        try:
            tokens = form.get("logout_token", [])
            if len(tokens) != 1:
                raise ValueError("expected one logout_token field")
            header, claims = check(tokens[0])
            report.update(ok=True, header=header, claims=claims)
            status = 200
        except Exception as e:  # every failure is reported, none crashes the server
            report.update(ok=False, error="%s: %s" % (type(e).__name__, e))
            status = 400
        print(json.dumps(report), flush=True)
        self.send_response(status)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
server.serve_forever()
