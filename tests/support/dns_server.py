"""Authoritative DNS server for Portal's tests: dnslib on a free loopback port, UDP and TCP.

Its records live in a JSON zone file that is read again on every query, so a test changes what the
server answers by rewriting the file (atomically) while the server runs. The file maps a name
(case-insensitive, trailing dot optional) to one entry:

    {"txt": [["portal-verification=abc"], ["part one", "part two"]]}   TXT records, each a list of
                                                                         character-strings
    {"txt": []}                                                          the name exists, no TXT
    {"rcode": "SERVFAIL"}                                                answer with that code
    {"silent": true}                                                     never answer (a timeout)

A name missing from the file answers NXDOMAIN. Prints {"ready": port} once it listens and one
{"query": name, "type": type, "proto": proto} line per query it receives.
"""

import argparse
import asyncio
import json
import socket
import struct

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord


def normalise(name):
    return str(name).rstrip(".").lower()


def load_zone(path):
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return {}
    return {normalise(k): v for k, v in raw.items()}


def answer(zone_path, data, proto):
    """The reply bytes for one query, or None to stay silent."""
    try:
        request = DNSRecord.parse(data)
    except Exception:  # noqa: BLE001 - garbage in, no answer out
        return None
    qname = request.q.qname
    qtype = QTYPE[request.q.qtype]
    print(json.dumps({"query": normalise(qname), "type": qtype, "proto": proto}), flush=True)
    entry = load_zone(zone_path).get(normalise(qname))
    reply = request.reply()
    if entry is None:
        reply.header.rcode = RCODE.NXDOMAIN
    elif entry.get("silent"):
        return None
    elif "rcode" in entry:
        reply.header.rcode = getattr(RCODE, entry["rcode"])
    elif qtype in ("TXT", "ANY"):
        for strings in entry.get("txt", []):
            reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT([s.encode() for s in strings]), ttl=0))
    return reply.pack()


class Udp(asyncio.DatagramProtocol):
    def __init__(self, zone_path):
        self.zone_path = zone_path

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        out = answer(self.zone_path, data, "udp")
        if out is not None:
            self.transport.sendto(out, addr)


async def tcp_client(zone_path, reader, writer):
    try:
        while True:
            head = await reader.readexactly(2)
            (length,) = struct.unpack("!H", head)
            data = await reader.readexactly(length)
            out = answer(zone_path, data, "tcp")
            if out is None:
                continue
            writer.write(struct.pack("!H", len(out)) + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zone", required=True)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    # UDP and TCP on one port: take a free UDP port, then the same TCP port (retry if it is taken).
    for _ in range(50):
        udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_sock.bind(("127.0.0.1", 0))
        port = udp_sock.getsockname()[1]
        tcp_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp_sock.bind(("127.0.0.1", port))
        except OSError:
            udp_sock.close()
            tcp_sock.close()
            continue
        break
    else:
        raise SystemExit("no free port for UDP and TCP")
    await loop.create_datagram_endpoint(lambda: Udp(args.zone), sock=udp_sock)
    tcp_sock.listen(16)
    server = await asyncio.start_server(
        lambda r, w: tcp_client(args.zone, r, w), sock=tcp_sock
    )
    print(json.dumps({"ready": port}), flush=True)
    await server.serve_forever()


asyncio.run(main())
