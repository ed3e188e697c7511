#!/usr/bin/env python3
"""Alert when the Threat Defense Connector's backlog grows: poll `tophosts 1` over SSH
with netmiko and segcli's driver, and watch the Active Recipients of the.tdc.queue.

    python examples/tdc_backlog_alert.py --host 127.0.0.1 --port 2222
    python examples/tdc_backlog_alert.py --port 2222 --interval 10 --grows 3 --threshold 500

It alerts (one line on standard output, exit status 2) when the backlog has grown at
K polls in a row (--grows, default 3) or is above a threshold (--threshold, default
100).  With --polls N it stops after N quiet polls with exit status 0; without it, it
polls until the first alert or Ctrl-C.  The password comes from --password or
$SEGCLI_PASSWORD (default: the factory password, ironport).  Needs netmiko
(`pip install netmiko`) and segcli's package, which ships the driver and the templates.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import dataclass, field

QUEUE = "the.tdc.queue"
ALERT = 2


@dataclass
class BacklogWatch:
    """What the polls have seen: alert when the backlog grew *grows* times in a row or
    is above *threshold*."""

    grows: int
    threshold: int
    history: list[int] = field(default_factory=list)

    def observe(self, active: int) -> str | None:
        """Record one poll's figure; the alert's text, or None."""
        self.history.append(active)
        if active > self.threshold:
            return f"ALERT: {QUEUE} holds {active} recipients (threshold {self.threshold})"
        recent = self.history[-(self.grows + 1):]
        if len(recent) == self.grows + 1 and all(b > a for a, b in itertools.pairwise(recent)):
            trail = " -> ".join(str(n) for n in recent)
            return f"ALERT: {QUEUE} grew at {self.grows} polls in a row: {trail}"
        return None


def tdc_active(rows: list[dict]) -> int:
    """The Active Recipients of the.tdc.queue in parsed `tophosts` rows (0 if absent)."""
    for row in rows:
        if row["host"] == QUEUE:
            return int(str(row["active_recipients"]).replace(",", ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default=os.environ.get("SEGCLI_PASSWORD", "ironport"))
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between polls")
    parser.add_argument("--grows", type=int, default=3, help="K: polls in a row that grew")
    parser.add_argument("--threshold", type=int, default=100, help="active recipients")
    parser.add_argument("--polls", type=int, default=0, help="stop after N polls (0: never)")
    args = parser.parse_args(argv)

    from netmiko import ConnectHandler

    import segcli.automation  # noqa: F401  (registers device_type "cisco_esa")

    watch = BacklogWatch(grows=args.grows, threshold=args.threshold)
    with ConnectHandler(device_type="cisco_esa", host=args.host, port=args.port,
                        username=args.username, password=args.password) as appliance:
        poll = 0
        while True:
            poll += 1
            active = tdc_active(appliance.send_command("tophosts 1", use_textfsm=True))
            print(f"{time.strftime('%H:%M:%S')} {QUEUE} active recipients: {active}", flush=True)
            alert = watch.observe(active)
            if alert:
                print(alert, flush=True)
                return ALERT
            if args.polls and poll >= args.polls:
                return 0
            time.sleep(args.interval)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
