"""Drills built in Python for the runner's tests (no loader needed), and a command line
that runs one of them through ``command_run`` in a process of its own:
``python -m tests.segcli.drills.samples NAME [--fast] [--json] [--junit FILE] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segcli.drills.model import Check, Drill, FaultSpec, Fix, Phase, Solved, TrafficSpec

T_ENQ = (r"TDC: MID (?P<jmid>\d+) with Message-ID '${m1.message_id}' enqueued for forwarding "
         r"to Cisco Secure Email Threat Defense to the message intake address "
         r"${lab.default_intake}")
T_OK = r"TDC: MID ${jmid} successfully delivered for scanning with Cisco Secure Email Threat " \
    r"Defense\."


def baseline() -> Drill:
    """One clean message to bob@example.com, journaled and delivered."""
    m1 = TrafficSpec("m1", to="bob@example.com", subject="drill baseline m1")
    return Drill(
        id="baseline-test", title="Clean mail is journaled", category="baseline",
        ticket_text="none",
        phases=(Phase("fault", traffic=(m1,), expect=(
            Check("log", r"MID (?P<mid>\d+) Message-ID '${m1.message_id}'",
                  "the original gets its MID", within_s=10),
            Check("sequence", [T_ENQ, r"TDC: Delivery start DCID (?P<dcid>\d+) MID ${jmid}",
                               T_OK], "the journal copy is delivered", within_s=20),
            Check("hoststatus", "the.tdc.queue", "the.tdc.queue counts one delivery",
                  delta={"Delivered Recipients": 1, "Hard Bounced Recipients": 0},
                  equal={"Host up/down": "up"}),
            Check("tophosts", "the.tdc.queue", "tophosts agrees", delta={"delivered": 1}),
            Check("setd", {"account": "${lab.default_intake}", "delta": {"accepted": 1},
                           "message_id": "${m1.message_id}", "statuses": ["accepted"]},
                  "SETD accepted it"),
            Check("sink", {"to": "bob@example.com", "message_id": "${m1.message_id}",
                           "count": 1}, "the original reached the sink once"),
            Check("findevent", {"mid": "${jmid}", "contains": [r"successfully delivered"]},
                  "findevent shows the delivery"),
            Check("config", {"command": "tdcconfig print", "contains": ["${lab.default_intake}"]},
                  "tdcconfig shows the intake address"),
            Check("invariant", "the.tdc.queue", "counters add up"),
        )),),
    )


def failing() -> Drill:
    """A drill whose check waits for a line that never comes."""
    m1 = TrafficSpec("m1", to="bob@example.com", subject="drill failing m1")
    return Drill(
        id="failing-test", title="A line that never comes", category="baseline",
        ticket_text="none",
        phases=(Phase("fault", traffic=(m1,), expect=(
            Check("log", r"MID (?P<mid>\d+) Message-ID '${m1.message_id}'", "the original's MID"),
            Check("log", r"This line is never written by anybody \d+",
                  "a line that never comes", within_s=1),
            Check("count", {"re": r"Unheard of \d+", "equal": 0}, "a warning that passes",
                  severity="warn", within_s=1),
        )),),
    )


def nxdomain() -> Drill:
    """The seed case: an intake domain the zone does not have; fixed back."""
    return Drill(
        id="nxdomain-test", title="Typo in the intake domain", category="dns",
        ticket_text="SETD shows nothing",
        vars={"good": "${lab.default_intake}", "bad": "${lab.default_local}@beta.cmd.setd.tset",
              "bad_domain": "beta.cmd.setd.tset"},
        phases=(Phase("fault", session="s1",
                      cli=("tdcconfig enable ${bad}", 'commit "drill: wrong intake"'),
                      traffic=(TrafficSpec("m1", subject="drill nxdomain m1"),),
                      expect=(
            Check("sequence", [
                r"TDC: MID (?P<jmid>\d+) with Message-ID '${m1.message_id}' enqueued for "
                r"forwarding to Cisco Secure Email Threat Defense to the message intake "
                r"address ${bad}",
                r"DNS Error ${bad_domain} MX - NXDomain",
                r"TDC: MID ${jmid} delivery failed to Cisco Secure Email Threat Defense: "
                r"Hard Bounced\.",
            ], "the seed lines in order", within_s=10, span_s=1),
            Check("absent", [r"TDC: Delivery start DCID \d+ MID ${jmid}"],
                  "no delivery connection", watch_s="${r} + 5"),
            Check("hoststatus", "the.tdc.queue", "one DNS hard bounce",
                  delta={"Hard Bounced Recipients": 1, "DNS Hard Bounces": 1,
                         "Delivered Recipients": 0}, equal={"Active Recipients": 0}),
            Check("dns", {"name": "${bad_domain}", "type": "MX", "rcode": "NXDOMAIN",
                          "count": 1}, "one MX lookup of the mistyped domain"),
            Check("sink", {"to": "bob@example.com", "message_id": "${m1.message_id}"},
                  "the original still arrived"),
            Check("setd", {"account": "${lab.default_intake}", "delta": {"accepted": 0}},
                  "SETD received nothing"),
            Check("invariant", "the.tdc.queue", "counters add up"),
        )),),
        fix=Fix(cli=("tdcconfig enable ${good}", 'commit "drill: fixed"')),
        solved=Solved(traffic=(TrafficSpec("v1", subject="drill nxdomain v1"),), expect=(
            Check("config", {"command": "tdcconfig print", "contains": ["${good}"],
                             "lacks": ["${bad_domain}"]}, "tdcconfig names the right address"),
            Check("log", r"TDC: MID (?P<vjmid>\d+) successfully delivered for scanning with "
                  r"Cisco Secure Email Threat Defense\.", "the verification copy is delivered",
                  within_s=20),
            Check("hoststatus", "the.tdc.queue", "one delivery in all",
                  delta={"Delivered Recipients": 1}),
        )),
    )


def retry() -> Drill:
    """A transient 451 at the end of data, once: retried after r and delivered; the
    fix clears the simulator's faults (a lab action)."""
    start = r"TDC: Delivery start DCID \d+ MID ${jmid}"
    return Drill(
        id="retry-test", title="A transient 451, retried", category="smtp", ticket_text="-",
        phases=(Phase("fault", faults=(
            FaultSpec("f1", "setd", "reply", intake="${lab.default_intake}", stage="eom",
                      code=451, times=1),
            FaultSpec("f2", "setd", "reply", intake="${lab.custom_intake}", stage="rcpt",
                      code=550),
        ), traffic=(TrafficSpec("m1", subject="drill retry m1"),), expect=(
            Check("log", T_ENQ, "the copy is enqueued"),
            Check("count", {"re": start, "equal": 2}, "two attempts", within_s=20),
            Check("setd", {"message_id": "${m1.message_id}", "transactions": 2,
                           "statuses": ["deferred 451", "accepted"]},
                  "SETD deferred it once, then accepted it"),
            Check("hoststatus", "the.tdc.queue", "one soft bounce, one delivery",
                  delta={"Soft Bounced Events": 1, "Delivered Recipients": 1}),
            Check("dns", {"name": "${lab.default_domain}", "type": "MX", "rcode": "NOERROR",
                          "count": 1}, "one MX lookup: the answer was cached"),
        )),),
        fix=Fix(lab=("fault clear",)),
        solved=Solved(traffic=(TrafficSpec("v1", subject="drill retry v1"),), expect=(
            Check("setd", {"message_id": "${v1.message_id}", "statuses": ["accepted"]},
                  "accepted at once"),
        )),
    )


SAMPLES = {"retry": retry, "baseline": baseline, "failing": failing, "nxdomain": nxdomain}


def main(argv: list[str]) -> int:
    from segcli.drills.runner import command_run

    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(SAMPLES))
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--junit", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args(argv)
    return command_run([SAMPLES[args.name]()], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
