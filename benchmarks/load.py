"""The benchmark's load generator: a lean asyncio SMTP client in a process of its own.

    python -m benchmarks.load --port PORT [--messages 5000] [--connections 20] [--size 5120]

*connections* sessions run in parallel and share the messages; each session keeps its
connection and sends its messages one after the other (EHLO once, then per message MAIL,
RCPT and DATA pipelined as RFC 2920 allows, the message, the final dot).  It times each
message's accept latency -- from writing the final dot to reading the reply -- and prints
one line of JSON: when the first connection opened and the last reply came
(``time.monotonic()``, comparable with the other benchmark processes), how many
messages were accepted or refused, and the latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

LINE = b"The quick brown fox jumps over the lazy dog; journal me, please. 0123456789\r\n"


def make_message(number: int, size: int, recipient: str, sender: str) -> bytes:
    """A message of exactly *size* bytes (headers included), CRLF line ends, no dot lines."""
    head = (f"From: Benchmark <{sender}>\r\nTo: <{recipient}>\r\n"
            f"Subject: journal benchmark message {number}\r\n"
            f"Message-ID: <bench.{number}.{time.time_ns()}@example.org>\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    room = max(size - len(head), len(LINE))
    lines, rest = divmod(room, len(LINE))
    if rest == 1:  # no line of one byte: the last full line takes it
        lines, rest = lines - 1, rest + len(LINE)
    return head + LINE * lines + (b"x" * (rest - 2) + b"\r\n" if rest else b"")


class SmtpFailure(Exception):
    pass


async def _reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise SmtpFailure("connection closed")
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return int(lines[-1][:3]), "\n".join(lines)


async def session(index: int, host: str, port: int, numbers: list[int], args: argparse.Namespace,
                  latencies: list[float], outcome: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        code, text = await _reply(reader)
        if code != 220:
            raise SmtpFailure(f"greeting {text}")
        writer.write(b"EHLO load.bench.example.org\r\n")
        code, text = await _reply(reader)
        if code != 250:
            raise SmtpFailure(f"EHLO {text}")
        pipelining = "PIPELINING" in text.upper()
        recipient = args.recipient.format(n=index)
        for number in numbers:
            message = make_message(number, args.size, recipient, args.sender)
            commands = [f"MAIL FROM:<{args.sender}>\r\n".encode(),
                        f"RCPT TO:<{recipient}>\r\n".encode(), b"DATA\r\n"]
            codes = []
            if pipelining:
                writer.write(b"".join(commands))
                for _ in commands:
                    codes.append((await _reply(reader))[0])
            else:
                for command in commands:
                    writer.write(command)
                    codes.append((await _reply(reader))[0])
            if codes[-1] != 354:
                outcome["refused"] += 1
                writer.write(b"RSET\r\n")
                await _reply(reader)
                continue
            writer.write(message + b".\r\n")
            dot = time.monotonic()
            code, text = await _reply(reader)
            latencies.append(time.monotonic() - dot)
            outcome["accepted" if code == 250 else "refused"] += 1
            outcome["last"] = time.monotonic()  # type: ignore[assignment]
        writer.write(b"QUIT\r\n")
        await writer.drain()
        await _reply(reader)
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict:
    latencies: list[float] = []
    outcome: dict = {"accepted": 0, "refused": 0, "failed_sessions": 0, "last": None}
    shares: list[list[int]] = [[] for _ in range(args.connections)]
    for number in range(args.messages):
        shares[number % args.connections].append(args.first + number)
    start = time.monotonic()
    results = await asyncio.gather(*(session(i, args.host, args.port, share, args, latencies, outcome)
                                     for i, share in enumerate(shares) if share),
                                   return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    outcome["failed_sessions"] = len(errors)
    latencies.sort()

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {**outcome, "start": start, "errors": errors[:5], "cpu": usage.ru_utime + usage.ru_stime,
            "latency": {"p50": percentile(50), "p90": percentile(90), "p99": percentile(99),
                        "max": latencies[-1] if latencies else None}}


def add_message_options(parser: argparse.ArgumentParser) -> None:
    """The options of the sessions and their messages (this module and benchmarks.paced_load)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--size", type=int, default=5120, help="bytes per message, headers included")
    parser.add_argument("--first", type=int, default=1, help="number of the first message")
    parser.add_argument("--sender", default="sender@example.org")
    parser.add_argument("--recipient", default="user{n}@example.com",
                        help="recipient address; {n} is the session number")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    add_message_options(parser)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
