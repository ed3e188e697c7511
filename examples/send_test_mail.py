#!/usr/bin/env python3
"""Send test mail through a running segcli gateway, one message per path.

    python examples/send_test_mail.py --port 2525            # all four
    python examples/send_test_mail.py --port 2525 clean spam  # some of them

clean    journaled to the default intake address (policy DEFAULT) and delivered
spam     carries the GTUBE string: delivered with [SPAM] in the subject, not journaled
virus    carries the EICAR test file: dropped, not journaled
partner  to @partners.example.com: journaled to the custom intake address (policy partners)

Sent with --source from a host of the listener's RELAYLIST (`listenerconfig hostaccess
add 127.0.0.2`, then `commit`), the same messages are outgoing mail: they meet the
outgoing mail policies and nothing is journaled.

Watch it with `tophosts`, the mail log (data dir: logs/mail_logs/mail.current) and the
SETD simulator's dashboard.  Only the standard library is used.
"""

from __future__ import annotations

import argparse
import base64
import smtplib
import sys
import time
from email.message import EmailMessage

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
# The EICAR test file, kept base64-encoded here so that this script itself is not flagged.
EICAR = base64.b64decode(
    "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=")

PATHS = {
    "clean": ("bob@example.com", "Quarterly report", "Nothing to see here: a clean message."),
    "spam": ("bob@example.com", "Cheap watches", f"Spam test string:\n{GTUBE}\n"),
    "virus": ("bob@example.com", "Invoice attached", "Please see the attachment."),
    "partner": ("carol@partners.example.com", "Partner update", "Journaled to the custom intake."),
}


def build(path: str, sender: str) -> EmailMessage:
    recipient, subject, body = PATHS[path]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"{subject} ({path} test {time.strftime('%H:%M:%S')})"
    message["Message-ID"] = f"<{path}.{time.time_ns()}@example.org>"
    message.set_content(body)
    if path == "virus":
        message.add_attachment(EICAR, maintype="application", subtype="octet-stream",
                               filename="eicar.com")
    return message


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--sender", default="alice@example.org")
    parser.add_argument("--source", default="",
                        help="local address to send from, e.g. 127.0.0.2 (any 127/8 address "
                             "works on Linux): a RELAYLIST host's mail is outgoing")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=f"which messages to send: {', '.join(PATHS)} (default: all)")
    args = parser.parse_args()
    unknown = [p for p in args.paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s): {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    source = (args.source, 0) if args.source else None
    with smtplib.SMTP(args.host, args.port, timeout=30, source_address=source) as client:
        for path in args.paths or PATHS:
            message = build(path, args.sender)
            client.send_message(message)
            print(f"{path:8} sent to {message['To']}: {message['Message-ID']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
