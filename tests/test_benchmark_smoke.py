"""The benchmark scripts work (not timed tests: no figure is judged here).

journal_throughput.py: 50 messages through a real segcli process, the SETD simulator and
the Python sink, without the Postfix reference; the script must finish, and its JSON must
show every message accepted, journaled over verified TLS and gone from the queues.

kill_recovery.py: 40 messages and one SIGKILL; nothing acknowledged may be lost.

web_delivery_status.py: 5 hosts and 200 queued recipients; every host has its row, in the
page and in the JSON, and every timing was taken.


ssh_roundtrip.py: 3 samples of each round trip (2 on new connections) against a real segcli
and the reference servers; every figure must be there, and the commands must have answered.

drills_realtime.py: one quick drill with --fast; it must pass and be in the table.

big_queue.py: 200 queued recipients and 20 journal copies, one SIGKILL and a restart; every
figure is there, and nothing is lost or delivered twice.

recovery_profile.py: 2,000 recipients and 200 copies recovered in-process, with the profile
and the allocation trace; all of it recovered, and the Oldest Message from the queues agrees
with the store's.

monitoring_history.py: 2000 messages of history; every monitoring command timed.

tophosts_scale.py: 2000 queued recipients over 20 hosts; the reference and the loaded
figures, and the table with its rows.

setd_outage.py --smoke: SETD down for L (6 s at time scale 0.05) under 20 messages/s; every
journal copy must be accounted for (delivered, or expired at its limit), and every figure there.

big_messages.py: a "big" message of 2 MB, then 3 at once, through a real segcli whose
listener's size limit the script raises; each must arrive byte-equal at the sink and inside
its journal copy, and every figure must be there.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run_script(*argv: str, timeout: float = 110) -> subprocess.CompletedProcess[str]:
    """Run a script of the repository with this interpreter; it must exit 0."""
    finished = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished


def test_benchmark_script_runs_end_to_end(tmp_path):
    report = tmp_path / "report.json"
    finished = run_script(
        "benchmarks/journal_throughput.py", "--messages", "50", "--runs", "1",
        "--no-reference", "--python-sink", "--workdir", str(tmp_path / "work"),
        "--json", str(report))
    [result] = json.loads(report.read_text())["results"]
    assert result["system"] == "segcli"
    assert result["accepted"] == 50
    assert result["journaled_per_s"] > 0 and result["cpu_ms_per_message"] > 0
    assert sum(result["setd_tls"].values()) == 50
    assert all(tls.startswith(("TLSv1.2", "TLSv1.3")) for tls in result["setd_tls"])
    tdc = result["queue"]["the.tdc.queue"]
    assert tdc["active"] == 0 and tdc["delivered"] == 50
    assert result["queue"]["example.com"]["delivered"] == 50
    assert "segcli   run 1:" in finished.stdout
    # the ceiling: every process's CPU per message, and the cores they would keep busy
    assert 0 < result["machine_busy"] <= 1 + 1e-6 and result["cores"] >= 1  # float rounding
    assert 0 < result["loop_thread_cores"] <= 1.05  # one thread: a core at most (ticks' rounding)
    assert 0 <= result["loop_thread_waiting"] <= 1 - result["loop_thread_cores"] + 0.05
    assert " waiting for one, " in finished.stdout and " asleep)" in finished.stdout
    others = sum(result["others_cpu_ms_per_message"].values())
    assert result["all_cpu_ms_per_message"] == pytest.approx(result["cpu_ms_per_message"] + others)
    assert result["ceiling_per_s"] == pytest.approx(
        result["cores"] * 1000 / result["all_cpu_ms_per_message"])
    # the machine's busy share that none of the measured processes explains
    measured_share = result["all_cpu_ms_per_message"] * 50 / 1000 / result["machine_seconds"]
    assert result["unmeasured_share"] == pytest.approx(result["machine_busy"] - measured_share)
    assert -0.2 < result["unmeasured_share"] < 1
    assert "machine " in finished.stdout and "at most" in finished.stdout
    assert "with work not measured here" in finished.stdout


def test_benchmark_script_offers_a_fixed_rate(tmp_path):
    """``--rate``: the messages offered at a fixed rate (benchmarks.paced_load), same report."""
    report = tmp_path / "report.json"
    run_script(
        "benchmarks/journal_throughput.py", "--messages", "40", "--rate", "40",
        "--runs", "1", "--no-reference", "--python-sink", "--workdir", str(tmp_path / "work"),
        "--json", str(report))
    [result] = json.loads(report.read_text())["results"]
    assert result["accepted"] == 40 and result["queue"]["the.tdc.queue"]["delivered"] == 40
    assert result["accepted_per_s"] < 45  # offered at 40 per second: never faster
    assert 0 < result["p50_ms"] <= result["p99_ms"]


def test_kill_recovery_script_runs_end_to_end(tmp_path):
    """benchmarks/kill_recovery.py with a tiny load: 40 messages, one SIGKILL of the real
    segcli mid-flow and a restart on the same data directory; nothing acknowledged is lost."""
    report = tmp_path / "report.json"
    finished = run_script(
        "benchmarks/kill_recovery.py", "--messages", "40", "--kills", "1",
        "--rate", "40", "--connections", "2", "--timeout", "90",
        "--workdir", str(tmp_path / "work"), "--json", str(report))
    [result] = json.loads(report.read_text())["results"]
    assert result["kills"] == 1 and len(result["restart_seconds"]) == 1
    assert result["acknowledged"] + result["unanswered"] + result["refused"] == 40
    assert result["acknowledged"] >= 20  # the kill came after half of them
    assert result["lost_sink"] == result["lost_setd"] == 0
    assert result["cpu_seconds"]["segcli"] > 0
    arrivals = json.loads((tmp_path / "work" / "run1" / "arrivals.json").read_text())
    assert len(arrivals["sink"]) >= result["acknowledged"]
    assert "run 1:" in finished.stdout and "duplicates per kill" in finished.stdout


def test_web_delivery_status_script_runs(tmp_path):
    """benchmarks/web_delivery_status.py with tiny sizes: a real appliance, its HTTPS server,
    the queue built through the engine's queues; the page and the JSON, in process and
    over HTTPS."""
    report = tmp_path / "report.json"
    finished = run_script(
        "benchmarks/web_delivery_status.py", "--recipients", "200",
        "--hosts", "5", "--runs", "3", "--json", str(report))
    result = json.loads(report.read_text())
    assert result["hosts"] == 6  # the five and the.tdc.queue
    assert result["queued_recipients"] == 202  # 200, and a journal copy per 100
    for key in ("render_page", "render_json", "https_page", "https_json"):
        assert result[key]["runs"] == 3 and result[key]["median_ms"] > 0
    assert "page, HTTPS GET" in finished.stdout


def test_ssh_roundtrip_script_runs_end_to_end(tmp_path):
    report = tmp_path / "report.json"
    finished = run_script(
        "benchmarks/ssh_roundtrip.py", "--runs", "3", "--warmup", "1",
        "--connect-runs", "2", "--json", str(report))
    figures = json.loads(report.read_text())
    results = figures["results"]
    for name in ("segcli shell: version", "segcli shell: tophosts 1", "segcli shell: empty line",
                 "segcli exec, open connection: version", "reference: Conch echo shell line",
                 "reference: Conch exec, open connection", "reference: TCP echo"):
        assert results[name]["runs"] == 3, name
        assert 0 < results[name]["min_ms"] <= results[name]["median_ms"] <= results[name]["p99_ms"]
    assert results["segcli exec, new connection (paramiko)"]["runs"] == 2
    assert results["reference: Conch exec, new connection (paramiko)"]["runs"] == 2
    assert "Version:" in figures["outputs"]["version"]
    assert "Recipient Host" in figures["outputs"]["tophosts 1"]
    assert "segcli shell: version" in finished.stdout and "median" in finished.stdout


def test_drills_realtime_script_runs_one_drill(tmp_path):
    """benchmarks/drills_realtime.py on one quick drill with --fast (the real-time run of the
    whole catalogue takes 15-20 minutes, outside the suite): the drill passes, the table has
    its row, the JSON its figures."""
    report = tmp_path / "drills.json"
    finished = run_script(
        "benchmarks/drills_realtime.py", "--fast", "smtp-550-no-retry",
        "--json", str(report))
    assert "1 drill at fast (timescale 0.1), one after another" in finished.stdout
    assert "| smtp-550-no-retry | PASS | " in finished.stdout
    data = json.loads(report.read_text())
    assert data["fast"] is True
    [drill] = data["drills"]
    assert (drill["drill"], drill["result"], drill["exit_status"]) == \
        ("smtp-550-no-retry", "PASS", 0)
    assert drill["passed"] > 0 and drill["failed"] == 0
    assert drill["wall_s"] >= drill["report_wall_s"] > 0 and drill["cpu_s"] > 0


def test_monitoring_history_script_runs(tmp_path):
    """benchmarks/monitoring_history.py with a tiny history: the store filled through its
    own tables, a real appliance started on it, every monitoring command and XML page
    timed, and ``status`` seeing the queued messages the script left."""
    report = tmp_path / "report.json"
    finished = run_script(
        "benchmarks/monitoring_history.py", "--messages", "2000", "--runs", "3",
        "--workdir", str(tmp_path), "--json", str(report))
    result = json.loads(report.read_text())
    assert result["messages"] == 2000 and result["start_seconds"] > 0
    assert set(result["timings"]) == {
        "version", "status", "status detail", "tophosts 1", "hoststatus the.tdc.queue",
        "workqueue status", "rate 1 1", "dnsstatus", "/xml/status", "/xml/tophosts"}
    assert all(figures["median_ms"] > 0 for figures in result["timings"].values())
    assert "Kilobytes Used" in result["status_output"]
    assert "Oldest Message:                No Messages" not in result["status_output"]
    assert "status detail" in finished.stdout and "appliance started in" in finished.stdout


def test_big_messages_script_runs_end_to_end(tmp_path):
    """benchmarks/big_messages.py with a small "big" message (2 MB) and 3 at once: the
    script configures the real segcli (listener size limit raised), sends, and checks every
    copy byte for byte itself."""
    report = tmp_path / "big.json"
    finished = run_script(
        "benchmarks/big_messages.py", "--size", "2M", "--concurrent", "3",
        "--reference-seconds", "1", "--timeout", "90", "--workdir", str(tmp_path / "work"),
        "--json", str(report))
    result = json.loads(report.read_text())
    assert result["size"] == 2 * 1024 * 1024 and result["concurrent"] == 3
    assert result["verified"] == 4  # the one, then the three: byte-equal at both ends
    assert len(result["many_accept_s"]) == 3
    assert result["rss_before"] > 0 and result["one_accept_s"] > 0
    assert result["small_alone"]["count"] > 0 and "p99_ms" in result["small_alone"]
    assert "byte-equal at the sink and inside the journal: 4 of 4" in finished.stdout


def test_tophosts_scale_script_runs(tmp_path):
    """benchmarks/tophosts_scale.py with a small queue: a real mail engine and store, the
    queue built through its queues, ``tophosts`` through a real CLI session."""
    report = tmp_path / "report.json"
    finished = run_script(
        "benchmarks/tophosts_scale.py", "--recipients", "2000", "--hosts", "20",
        "--runs", "3", "--json", str(report))
    result = json.loads(report.read_text())
    assert result["queued_recipients"] == 2020  # 2000, and a journal copy per 100
    for name in ("reference", "loaded"):
        figures = result[name]
        assert 0 < figures["median_ms"] <= figures["p99_ms"] <= figures["max_ms"], name
    assert "host0.example.net" in result["output"]
    assert "ratio loaded/reference:" in finished.stdout


def test_big_queue_script_runs_end_to_end(tmp_path):
    """benchmarks/big_queue.py at a tiny size: the queue built in the store, the first start
    and the restart after ``kill -9`` both recover all of it (the script waits for that),
    then the destination comes back and every queued message arrives exactly once, and
    none of those stored as delivered before the kill."""
    report = tmp_path / "report.json"
    run_script(
        "benchmarks/big_queue.py", "--recipients", "200", "--copies", "20",
        "--runs", "2", "--timeout", "90", "--keep", str(tmp_path / "work"),
        "--json", str(report))
    result = json.loads(report.read_text())
    for phase in ("first start", "after kill -9"):
        figures = result[phase]
        assert 0 < figures["smtp_220_s"] <= figures["recovered_s"] + 0.1
        assert figures["VmHWM"] >= figures["VmRSS"] > 0
        for command in ("version", "tophosts", "hoststatus example.com",
                        "hoststatus the.tdc.queue"):
            assert figures[command]["p99_ms"] >= figures[command]["median_ms"] > 0
    for end in ("sink", "setd"):
        assert result[end] == {"lost": 0, "twice": 0, "delivered_again": 0}


def test_recovery_profile_script_runs(tmp_path):
    """benchmarks/recovery_profile.py at a tiny size: the queue built, recovered in the
    script's own process with a profile and an allocation trace, and checked."""
    report, profile = tmp_path / "report.json", tmp_path / "recovery.prof"
    run_script(
        "benchmarks/recovery_profile.py", "--recipients", "2000", "--copies",
        "200", "--profile", str(profile), "--memory", "5", "--json", str(report))
    result = json.loads(report.read_text())
    assert result["recovered"] == 2200 and 0 < result["listening_s"] <= result["recovered_s"]
    assert result["after"]["VmHWM"] >= result["after"]["VmRSS"] > 0
    assert len(result["allocations"]) == 5 and profile.stat().st_size > 0
    for host in ("example.com", "the.tdc.queue"):
        assert result["oldest"][host]["agree"] is True

def test_setd_outage_script_runs_end_to_end(tmp_path):
    """benchmarks/setd_outage.py --smoke: the real segcli (timers at scale 0.05: L = 6 s),
    SETD down for L under a steady load, monitoring commands over SSH meanwhile; the script's
    own accounting must hold: every copy delivered or expired at its limit, none twice."""
    report = tmp_path / "outage.json"
    finished = run_script(
        "benchmarks/setd_outage.py", "--smoke", "--workdir", str(tmp_path / "work"),
        "--json", str(report), timeout=150)
    result = json.loads(report.read_text())
    accounting = result["accounting"]
    assert accounting["ok"] and accounting["problem_count"] == 0
    checks = accounting["checks"]
    assert checks["copies"] == checks["accepted_by_the_load"] == checks["sink_messages"] > 0
    assert checks["setd_twice"] == checks["sink_twice"] == 0
    during = accounting["by_enqueue_phase"]["during"]
    assert during.get("Expired", 0) > 0  # copies queued while SETD was down reached the limit
    assert set(during) <= {"Expired", "delivered"}
    windows = {w["window"]: w for w in result["windows"]}
    assert set(windows) == {"before", "during", "after"}
    assert windows["during"]["journaled_per_s"] < 2  # SETD really was down (a copy past MAIL may end)
    assert windows["before"]["journaled_per_s"] > 0 and windows["during"]["delivered_per_s"] > 0
    for window in windows.values():
        assert window["tophosts 1"]["count"] > 0 and window["hoststatus the.tdc.queue"]["count"] > 0
    assert result["memory"]["peak_queued_copies"] > 0 and result["memory"]["vmhwm_mb"] > 0
    assert "accounting: " in finished.stdout and "OK: 0 problems" in finished.stdout
