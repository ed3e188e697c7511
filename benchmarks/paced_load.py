"""Open-loop SMTP load at a fixed rate for a fixed time, in a process of its own.

    python -m benchmarks.paced_load --port PORT --rate 100 --seconds 300 [--connections 20]

Message *i* is due at ``start + i / rate`` whatever the gateway does (open loop: a slow
gateway does not lower the offered rate, as a closed-loop client that waits for each reply
would).  *connections* persistent sessions share the due messages; a session sends the
next due message as soon as it is free, so while the gateway keeps up every message goes
out on time, and when it does not, messages go out late (the lateness is recorded, and the
accept rate shows it).  Per message: MAIL, RCPT and DATA pipelined (RFC 2920), the body,
the final dot; the accept latency is from writing the final dot to reading the reply.  A
broken session is opened again (the message it was sending counts as failed).

At the end it prints one line of JSON: ``start`` (``time.monotonic()``, the clock every
benchmark process shares), the CPU seconds it used, and ``messages``: for each message
``[number, due, dot, reply, code]`` (times on the same clock; code 0: no reply).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

from benchmarks.load import SmtpFailure, _reply, add_message_options, make_message

REPLY_TIMEOUT = 120.0


class Schedule:
    """The due times of the messages, handed out in order to whichever session is free."""

    def __init__(self, rate: float, seconds: float) -> None:
        self.start = time.monotonic() + 0.2
        self.interval = 1.0 / rate
        self.count = int(rate * seconds)
        self.next = 0

    def take(self) -> tuple[int, float] | None:
        """The next message's number and due time; None once every one is handed out."""
        if self.next >= self.count:
            return None
        number, self.next = self.next, self.next + 1
        return number, self.start + number * self.interval


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
    reader, writer = await asyncio.open_connection(host, port)
    code, text = await asyncio.wait_for(_reply(reader), REPLY_TIMEOUT)
    if code != 220:
        raise SmtpFailure(f"greeting {text}")
    writer.write(b"EHLO paced.bench.example.org\r\n")
    code, text = await asyncio.wait_for(_reply(reader), REPLY_TIMEOUT)
    if code != 250:
        raise SmtpFailure(f"EHLO {text}")
    return reader, writer, "PIPELINING" in text.upper()


async def _send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pipelining: bool,
                message: bytes, sender: str, recipient: str) -> tuple[float, float, int]:
    """One message: (dot, reply, code); code 0 when DATA was refused (no dot written)."""
    commands = [f"MAIL FROM:<{sender}>\r\n".encode(), f"RCPT TO:<{recipient}>\r\n".encode(),
                b"DATA\r\n"]
    codes = []
    if pipelining:
        writer.write(b"".join(commands))
        for _ in commands:
            codes.append((await asyncio.wait_for(_reply(reader), REPLY_TIMEOUT))[0])
    else:
        for command in commands:
            writer.write(command)
            codes.append((await asyncio.wait_for(_reply(reader), REPLY_TIMEOUT))[0])
    if codes[-1] != 354:
        writer.write(b"RSET\r\n")
        await asyncio.wait_for(_reply(reader), REPLY_TIMEOUT)
        now = time.monotonic()
        return now, now, codes[-1] if codes[-1] >= 400 else 0
    writer.write(message + b".\r\n")
    dot = time.monotonic()
    code, _ = await asyncio.wait_for(_reply(reader), REPLY_TIMEOUT)
    return dot, time.monotonic(), code


async def session(index: int, schedule: Schedule, args: argparse.Namespace,
                  records: list[list[Any]], errors: list[str]) -> None:
    recipient = args.recipient.format(n=index)
    link: tuple[asyncio.StreamReader, asyncio.StreamWriter, bool] | None = None
    try:
        while (due := schedule.take()) is not None:
            number, at = due
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            message = make_message(args.first + number, args.size, recipient, args.sender)
            try:
                if link is None:
                    link = await _open(args.host, args.port)
                dot, reply, code = await _send(*link, message, args.sender, recipient)
            except (OSError, SmtpFailure, ValueError) as exc:  # TimeoutError is an OSError
                errors.append(f"message {number}: {exc!r}")
                records.append([number, at, time.monotonic(), time.monotonic(), 0])
                if link is not None:
                    link[1].close()
                link = None
                continue
            records.append([number, at, dot, reply, code])
        if link is not None:
            link[1].write(b"QUIT\r\n")
            await asyncio.wait_for(_reply(link[0]), REPLY_TIMEOUT)
    finally:
        if link is not None:
            link[1].close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    schedule = Schedule(args.rate, args.seconds)
    records: list[list[Any]] = []
    errors: list[str] = []
    await asyncio.gather(*(session(i, schedule, args, records, errors)
                           for i in range(args.connections)), return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    records.sort()
    return {"start": schedule.start, "rate": args.rate, "seconds": args.seconds,
            "cpu": usage.ru_utime + usage.ru_stime, "errors": errors[:20],
            "error_count": len(errors), "messages": records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, required=True, help="messages per second offered")
    parser.add_argument("--seconds", type=float, required=True, help="how long to offer them")
    add_message_options(parser)
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.connections < 1:
        parser.error("--rate, --seconds and --connections must be positive")
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
