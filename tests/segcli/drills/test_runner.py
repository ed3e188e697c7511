"""The drill runner against a real lab: real SMTP, the real DNS zone, the real SETD
simulator and sink, the real command engine; timers at the --fast timescale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from segcli.drills.model import Check, Drill, FaultSpec, Fix, Phase, Solved, TrafficSpec
from segcli.drills.report import render_text
from segcli.drills.runner import run_drill
from tests.conftest import REPO, segcli_env
from tests.segcli.drills import samples


def run_sample(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``command_run`` in a process of its own (it runs its own reactor)."""
    return subprocess.run([sys.executable, "-m", "tests.segcli.drills.samples", name, "--fast",
                           *args], capture_output=True, text=True, timeout=timeout,
                          env=segcli_env(), cwd=REPO)


def test_a_clean_message_passes_the_baseline_drill(run):
    events = []
    report = run(run_drill(samples.baseline(), fast=True, progress=events.append), timeout=90)
    assert report.status == "PASS", render_text(report, verbose=True)
    assert [r.status for r in report.results] == ["PASS"] * 9
    assert report.timescale == 0.1
    assert not Path(report.lab_dir).exists()  # the temporary data directory is gone
    assert events[0].kind == "lab" and events[-1].kind == "done"
    assert sum(e.kind == "check" for e in events) == 9


def test_a_check_that_cannot_pass_fails_and_shows_the_log_around_it(run):
    report = run(run_drill(samples.failing(), fast=True), timeout=90)
    assert report.status == "FAIL"
    failed = [r for r in report.results if r.status == "FAIL"]
    assert [r.desc for r in failed] == ["a line that never comes"]
    assert "no line matched" in failed[0].detail
    assert any("Message-ID" in line for line in failed[0].context)
    assert 0 < len(failed[0].context) <= 20
    text = render_text(report)
    assert "FAIL  a line that never comes" in text and "context:" in text
    assert "RESULT  FAIL" in text and "1 failed" in text


def test_a_failing_warn_check_is_a_warning_and_the_drill_passes(run):
    drill = Drill(id="warn-test", title="warn", category="baseline", ticket_text="-",
                  phases=(Phase("fault", traffic=(TrafficSpec("m1"),), expect=(
                      Check("count", {"re": r"MID \d+ Message-ID '${m1.message_id}'",
                                      "equal": 5}, "five of them", severity="warn",
                            within_s=1),
                      Check("dns", {"server": "blackhole", "count": 0}, "no black hole",
                            severity="warn", within_s=1),)),))
    report = run(run_drill(drill, fast=True), timeout=60)
    assert [r.status for r in report.results] == ["WARN", "WARN"]
    assert report.status == "PASS" and report.exit_status == 0
    assert "1 line(s) matched, wanted equal 5" in report.results[0].detail
    assert report.results[1].detail == "no DNS black hole is armed (a lab dns_blackhole fault)"


def test_an_unknown_hoststatus_label_makes_the_drill_invalid(run):
    drill = Drill(id="invalid-test", title="invalid", category="baseline", ticket_text="-",
                  phases=(Phase("fault", expect=(
                      Check("hoststatus", "the.tdc.queue", "a label nobody prints",
                            delta={"Delivered Mailboxes": 1}),)),))
    report = run(run_drill(drill, fast=True), timeout=60)
    result = report.results[0]
    assert result.status == "FAIL" and result.invalid
    assert "'Delivered Mailboxes'" in result.detail and "Delivered Recipients" in result.detail
    assert report.exit_status == 2


def test_the_nxdomain_drill_fails_first_and_the_fix_makes_it_pass(run):
    report = run(run_drill(samples.nxdomain(), fast=True), timeout=120)
    assert report.status == "PASS", render_text(report, verbose=True)
    assert [p.name for p in report.phases] == ["fault", "solved"]
    assert report.fix.startswith("2 commands ok (tdcconfig enable ..., commit")
    assert all(r.status == "PASS" for r in report.results)


def test_a_setd_fault_is_armed_counted_by_the_witnesses_and_cleared_by_the_fix(run):
    report = run(run_drill(samples.retry(), fast=True), timeout=120)
    assert report.status == "PASS", render_text(report, verbose=True)
    assert any(step.startswith("fault f1: #") and "451" in step
               for step in report.phases[0].steps)
    assert report.fix == "lab: fault clear"


def test_a_setd_check_with_an_account_counts_only_that_accounts_transactions(run):
    # m1 goes to the default intake only: the custom account never saw its Message-ID
    drill = Drill(id="setd-account-test", title="setd account", category="baseline",
                  ticket_text="-", phases=(Phase("fault", traffic=(TrafficSpec("m1"),), expect=(
                      Check("setd", {"account": "${lab.default_intake}",
                                     "message_id": "${m1.message_id}", "transactions": 1,
                                     "statuses": ["accepted"]}, "the default account took it",
                            within_s=30),
                      Check("setd", {"account": "${lab.custom_intake}",
                                     "message_id": "${m1.message_id}", "transactions": 0},
                            "the custom account did not", within_s=1),
                      Check("setd", {"account": "${lab.custom_intake}",
                                     "message_id": "${m1.message_id}", "transactions": 1},
                            "a wrong account is a failure", within_s=1),)),))
    report = run(run_drill(drill, fast=True), timeout=90)
    assert [r.status for r in report.results] == ["PASS", "PASS", "FAIL"], \
        render_text(report, verbose=True)
    assert "0 transaction(s) (wanted 1)" in report.results[2].detail


def test_a_failing_setup_command_stops_the_drill_with_its_error(run):
    drill = Drill(id="badcli-test", title="bad", category="config", ticket_text="-",
                  phases=(Phase("fault", cli=("tdcconfig enable not-an-address",),
                                expect=(Check("invariant", "the.tdc.queue", "never run"),)),))
    report = run(run_drill(drill, fast=True), timeout=60)
    assert report.status == "FAIL" and report.exit_status == 1
    assert "tdcconfig enable not-an-address" in report.error
    assert report.results == []


def test_command_run_exit_0_with_json_and_junit(tmp_path):
    junit = tmp_path / "drills.xml"
    result = run_sample("baseline", "--json", "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    [drill] = data["drills"]
    assert drill["drill_id"] == "baseline-test" and drill["status"] == "PASS"
    assert drill["counts"] == {"passed": 9, "failed": 0, "warnings": 0}
    assert all(r["status"] == "PASS" for r in drill["phases"][0]["results"])
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == 9 and not ET.parse(junit).getroot().findall(".//failure")


def test_command_run_exit_1_names_the_failed_check(tmp_path):
    junit = tmp_path / "drills.xml"
    result = run_sample("failing", "--junit", str(junit))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  a line that never comes" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("RESULT  FAIL")
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == 1 and "no line matched" in failures[0].get("message")


def test_command_run_exit_3_when_the_data_directory_cannot_be_used(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run_sample("baseline", "--data", str(not_a_dir), "--json")
    assert result.returncode == 3, result.stdout + result.stderr
    [drill] = json.loads(result.stdout)["drills"]
    assert drill["status"] == "ERROR" and str(not_a_dir) in drill["lab_error"]


def test_ctrl_c_stops_the_run_and_its_lab(tmp_path):
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.segcli.drills.samples", "failing", "--fast", "--data",
         str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=segcli_env(), cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (data / "logs" / "mail_logs" / "mail.current").exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        time.sleep(1)
        os.kill(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, out + err
    assert "interrupted" in err


def test_the_other_log_checks_and_the_commands_read_a_real_delivery(run):
    jmid_line = (r"TDC: MID (?P<jmid>\d+) with Message-ID '${m1.message_id}' enqueued .*")
    ok_line = r"TDC: MID ${jmid} successfully delivered .*"
    drill = Drill(id="kinds-test", title="kinds", category="baseline", ticket_text="-",
                  phases=(Phase("fault", traffic=(TrafficSpec("m1", subject="kinds m1"),),
                                expect=(
        Check("timing", {"from": jmid_line, "to": ok_line, "between": [0, "${r}"]},
              "delivered within r of enqueue"),
        Check("sample", {"command": "tophosts", "host": "the.tdc.queue", "field": "delivered",
                         "every_s": 5, "for_s": 20, "max_at_least": 1, "final": 1},
              "tophosts shows the delivery while sampled"),
        Check("findevent", {"message_id": "${m1.message_id}",
                            "contains": [r"Message done DCID \d+ MID ${m1.mid}",
                                         r"successfully delivered for scanning"]},
              "findevent by Message-ID finds the original and its copy"),
        Check("config", {"command": "tdcconfig print", "lacks": [r"\.tset"]},
              "no mistyped domain"),
        Check("absent", [r"Delayed: .*"], "no delay", watch_s=20),
        Check("log", None, "T-OK by its shape", shape="T-OK", fields={"jmid": "${jmid}"}),
    )),))
    report = run(run_drill(drill, fast=True), timeout=90)
    assert report.status == "PASS", render_text(report, verbose=True)
    sample = report.results[1]
    assert "max 1, final 1" in sample.detail


def test_traffic_is_refused_while_the_gateway_asks_a_dns_server_off_this_machine(run):
    drill = Drill(id="unsafe-test", title="unsafe", category="config", ticket_text="-",
                  phases=(Phase("fault", cli=("dnsconfig servers 192.0.2.53", 'commit "drill"'),
                                traffic=(TrafficSpec("m1"),),
                                expect=(Check("invariant", "the.tdc.queue", "never run"),)),))
    report = run(run_drill(drill, fast=True), timeout=60)
    assert report.status == "FAIL" and report.results == []
    assert "traffic refused: the gateway's DNS server 192.0.2.53 is not on loopback" \
        in report.error


def test_a_dns_server_that_never_answers_starves_setd_until_the_fix(run):
    drill = Drill(
        id="blackhole-test", title="wrong DNS server", category="dns", ticket_text="-",
        phases=(
            # ordinary mail for example.com goes to the sink by address: it needs no DNS
            Phase("network", cli=("smtproutes new example.com ${lab.sink}", 'commit "drill"'),
                  faults=(FaultSpec("hole", "lab", "dns_blackhole"),)),
            Phase("fault", cli=("dnsconfig servers ${lab.blackhole}", 'commit "drill"'),
                  traffic=(TrafficSpec("m1", subject="blackhole m1"),), expect=(
                Check("log", r"MID ${m1.mid} queued for delivery", "the gateway takes the mail"),
                # the copy's first lookup; its retry asks again only d + r later
                Check("dns", {"server": "blackhole", "count": 1},
                      "the gateway asked the black hole"),
                Check("sink", {"message_id": "${m1.message_id}"}, "the original is delivered"),
                Check("absent", [r"TDC: MID \d+ successfully delivered .*"],
                      "nothing reaches SETD", watch_s=30),
                Check("dns", {"name": "${lab.default_domain}", "count": 0},
                      "the lab zone was not asked for the intake domain"),
            ))),
        fix=Fix(cli=("dnsconfig servers ${lab.dns}", 'commit "drill"')),
        solved=Solved(traffic=(TrafficSpec("v1", subject="blackhole v1"),), expect=(
            Check("setd", {"message_id": "${v1.message_id}", "statuses": ["accepted"]},
                  "the verification copy reaches SETD", within_s=30),
        )))
    report = run(run_drill(drill, fast=True), timeout=120)
    assert report.status == "PASS", render_text(report, verbose=True)
    assert report.phases[0].steps[1].startswith("fault hole: DNS blackhole on 127.0.0.1:")
    assert report.results[1].detail == "the DNS black hole read 1 query"
    assert report.results[4].detail.startswith("0 queries for beta.")


def test_a_pending_change_stays_in_its_named_session_until_the_fix_commits_it(run):
    drill = Drill(
        id="pending-test", title="uncommitted", category="config", ticket_text="-",
        phases=(Phase("fault", session="s1", cli=("tdcconfig disable",), expect=(
            Check("config", {"command": "tdcconfig print", "contains": [r"(?i)\benabled\b"],
                             "lacks": [r"(?i)\bdisabled\b"]},
                  "a new session still sees the connector enabled"),)),),
        # the comment and the rollback question are answered from the pipe
        fix=Fix(cli=("commit",), answers=("drill: disable the connector", "Y")),
        solved=Solved(expect=(
            Check("config", {"command": "tdcconfig print", "contains": [r"(?i)\bdisabled\b"]},
                  "the committed change is seen everywhere"),)))
    report = run(run_drill(drill, fast=True), timeout=60)
    assert report.status == "PASS", render_text(report, verbose=True)
    assert report.fix == "1 command ok (commit)"
