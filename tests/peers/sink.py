#!/usr/bin/env python3
"""A byte-exact SMTP sink: the next hop in sealgate's end-to-end tests.

Every accepted message is stored as DIR/<n>.eml (the DATA bytes after dot-unstuffing, CRLF
kept: aiosmtpd's envelope.original_content) and DIR/<n>.json (mail_from, rcpt_tos). The .json
is written last, so a reader that sees it also sees the complete .eml.

Misbehaviour on request, to test what the gateway does with a difficult next hop:
  --rcpt-reply ADDR=CODE TEXT   answer RCPT TO:<ADDR> with this reply (e.g. "450 4.2.0 busy")
  --data-reply "CODE TEXT"      answer every end of data with this reply (nothing stored)
  --close-in-data               after 354 and the first line of data, close the connection
  --stall-data SECONDS          wait this long before answering the end of data
  --tls-cert/--tls-key          offer STARTTLS with this certificate
  --auth USER:PASSWORD          require AUTH (over TLS) with these credentials

Prints "READY <port>" on stdout once it listens.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class Store:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.count = len([n for n in os.listdir(directory) if n.endswith(".json")])

    def save(self, envelope):
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")


class Handler:
    def __init__(self, args, store):
        self.rcpt_replies = {}
        for spec in args.rcpt_reply:
            address, _, reply = spec.partition("=")
            self.rcpt_replies[address.lower()] = reply
        self.data_reply = args.data_reply
        self.stall_data = args.stall_data
        self.store = store

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.stall_data:
            await asyncio.sleep(self.stall_data)
        if self.data_reply:
            return self.data_reply
        self.store.save(envelope)
        return "250 2.0.0 stored as %d" % self.store.count


class SinkSMTP(SMTP):
    line_length_limit = 1 << 20
    close_in_data = False

    async def smtp_DATA(self, arg):
        if not self.close_in_data:
            return await super().smtp_DATA(arg)
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 need RCPT command")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.readuntil(b"\r\n")
        self.transport.close()


def tls_context(args):
    if not args.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def authenticator_for(spec):
    if not spec:
        return None
    user, _, password = spec.partition(":")

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok)

    return authenticate


async def main(args):
    store = Store(args.dir)
    handler = Handler(args, store)
    context = tls_context(args)
    SinkSMTP.close_in_data = args.close_in_data

    def factory():
        return SinkSMTP(
            handler,
            hostname=args.hostname,
            data_size_limit=None,
            enable_SMTPUTF8=True,
            tls_context=context,
            command_call_limit=100000,
            authenticator=authenticator_for(args.auth),
            auth_required=bool(args.auth),
            auth_require_tls=True,
        )

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, sock=sock)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY %d" % sock.getsockname()[1], flush=True)
    await stop.wait()
    server.close()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hostname", default="sink.test")
    parser.add_argument("--rcpt-reply", action="append", default=[])
    parser.add_argument("--data-reply")
    parser.add_argument("--close-in-data", action="store_true")
    parser.add_argument("--stall-data", type=float, default=0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--auth")
    return parser.parse_args()


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
