"""SMTP sink for Portal's tests: a real SMTP server (aiosmtpd) on a free loopback port.

Prints one JSON line when it listens ({"ready": port}) and one JSON line per received message with
the envelope and the decoded subject and bodies. With --auth USER:PASS it requires SMTP AUTH.
"""

import argparse
import asyncio
import email
import json
from email import policy

from aiosmtpd.smtp import AuthResult, SMTP


class Sink:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "from": str(msg["From"]),
                    "to": str(msg["To"]),
                    "subject": str(msg["Subject"]),
                    "text": text.get_content() if text is not None else "",
                    "html": html.get_content() if html is not None else "",
                    "authenticated": bool(getattr(session, "authenticated", False)),
                }
            ),
            flush=True,
        )
        return "250 Message accepted for delivery"


def authenticator(expected):
    def check(server, session, envelope, mechanism, auth_data):
        ok = auth_data is not None and f"{auth_data.login.decode()}:{auth_data.password.decode()}" == expected
        return AuthResult(success=ok)

    return check


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--auth")
    args = parser.parse_args()
    kwargs = {"hostname": "sink.test"}
    if args.auth:
        kwargs.update(authenticator=authenticator(args.auth), auth_required=True, auth_require_tls=False)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(), **kwargs), "127.0.0.1", 0)
    print(json.dumps({"ready": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


asyncio.run(main())
