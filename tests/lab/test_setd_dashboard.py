"""The SETD simulator's dashboard over HTTP: the page and the JSON API."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from tests.lab.setd_client import Target, attempt, journal, original


async def http(setd, method: str, path: str, body: Any = None, *, raw: bytes | None = None
               ) -> tuple[int, str, Any]:
    """``(status, content type, body)``; JSON bodies come back parsed."""
    url = setd.dashboard_url.rstrip("/") + path
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)

    def call() -> tuple[int, str, bytes]:
        request = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers["content-type"], response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers["content-type"], error.read()

    status, kind, content = await asyncio.to_thread(call)
    return status, kind, json.loads(content) if "json" in kind else content.decode()


async def test_the_page_shows_accounts_mail_and_faults(setd, intake):
    setd.setup_intake(name="<b>emea</b>")
    await asyncio.to_thread(attempt, Target.of(setd), intake, journal(intake, original("Hi <all>")))
    setd.add_fault(intake, "reply", stage="rcpt", code=452)
    status, kind, page = await http(setd, "GET", "/")
    assert status == 200 and kind.startswith("text/html")
    assert intake in page and f"Journaled mail for {intake}" in page
    assert "Hi &lt;all&gt;" in page and "&lt;b&gt;emea&lt;/b&gt;" in page  # escaped
    assert "reply 452 4.3.1 Insufficient system storage at rcpt" in page
    assert f"mx.beta.cmd.cisco.com → 127.0.0.1:{setd.host_for().port}" in page


async def test_setup_and_lookup_over_the_api(setd, intake):
    status, _, created = await http(setd, "POST", "/api/intake", {
        "seg_present": True, "seg_type": "Cisco SEG", "direction": "incoming",
        "verification": "none", "name": "emea"})
    assert status == 201 and created["name"] == "emea" and created["domain"] == "beta.cmd.cisco.com"
    status, _, accounts = await http(setd, "GET", "/api/intake")
    assert [a["address"] for a in accounts] == [intake, created["address"]]
    assert accounts[0]["mx_host"] == "mx.beta.cmd.cisco.com"
    status, _, found = await http(setd, "GET", "/api/intake/emea")
    assert status == 200 and found["address"] == created["address"] and found["faults"] == []

    status, _, refused = await http(setd, "POST", "/api/intake", {"seg_present": False})
    assert status == 400 and "no Message Intake Address" in refused["error"]
    status, _, refused = await http(setd, "POST", "/api/intake", {"colour": "blue"})
    assert status == 400 and "colour" in refused["error"]


async def test_messages_over_the_api(setd, intake):
    message = original()
    await asyncio.to_thread(attempt, Target.of(setd), intake, journal(intake, message))
    await asyncio.to_thread(attempt, Target.of(setd), intake, message)  # not a journal
    status, _, everything = await http(setd, "GET", f"/api/intake/{intake}/messages")
    assert status == 200 and [m["outcome"] for m in everything] == ["accepted", "refused"]
    _, _, accepted = await http(setd, "GET", f"/api/intake/{intake}/messages?outcome=accepted")
    assert len(accepted) == 1 and accepted[0]["subject"] == "Quarterly report"
    assert accepted[0]["sha256"] == setd.accepted(intake)[0].sha256
    _, _, summary = await http(setd, "GET", "/api/status")
    assert (summary["accounts"][0]["accepted"], summary["accounts"][0]["received"]) == (1, 2)
    status, _, cleared = await http(setd, "DELETE", f"/api/intake/{intake}/messages")
    assert (status, cleared) == (200, {"cleared": 2}) and setd.messages() == []
    status, _, missing = await http(setd, "GET", "/api/intake/nobody@example.com/messages")
    assert status == 404 and "not an intake address" in missing["error"]


async def test_faults_over_the_api_strike_on_the_wire(setd, intake):
    status, _, fault = await http(setd, "POST", "/api/faults", {
        "address": intake, "kind": "reply", "stage": "rcpt", "code": "503", "times": 1})
    assert status == 201 and fault["code"] == 503 and fault["text"].startswith("5.5.1")
    _, _, listed = await http(setd, "GET", f"/api/faults?address={intake}")
    assert [f["id"] for f in listed] == [fault["id"]]
    result = await asyncio.to_thread(attempt, Target.of(setd), intake, journal(intake, original()))
    assert (result.stage, result.code) == ("rcpt", 503)
    _, _, after = await http(setd, "GET", "/api/faults")
    assert after == []  # spent

    _, _, hang = await http(setd, "POST", "/api/faults", {"address": intake, "kind": "hang"})
    status, _, removed = await http(setd, "DELETE", f"/api/faults/{hang['id']}")
    assert (status, removed) == (200, {"removed": hang["id"]})
    status, _, _ = await http(setd, "DELETE", f"/api/faults/{hang['id']}")
    assert status == 404
    for _ in range(2):
        await http(setd, "POST", "/api/faults", {"address": intake, "kind": "slow", "delay": 1})
    status, _, cleared = await http(setd, "DELETE", "/api/faults")
    assert (status, cleared) == (200, {"cleared": 2})

    _, _, events = await http(setd, "GET", "/api/events?limit=500")
    texts = [e["text"] for e in events]
    assert any("strikes" in t for t in texts) and any("2 fault(s) cleared" in t for t in texts)


async def test_bad_requests(setd, intake):
    status, _, error = await http(setd, "POST", "/api/faults", {"address": intake, "kind": "hang",
                                                                 "stage": "never"})
    assert status == 400 and "stages" in error["error"]
    status, _, error = await http(setd, "POST", "/api/faults", {"kind": "hang"})
    assert status == 400 and "address" in error["error"]
    status, _, error = await http(setd, "POST", "/api/faults", raw=b"{nope")
    assert status == 400 and "not JSON" in error["error"]
    status, _, error = await http(setd, "POST", "/api/faults", {"address": intake, "kind": "slow",
                                                                 "delay": "soon"})
    assert status == 400
    assert (await http(setd, "GET", "/nowhere"))[0] == 404
    assert (await http(setd, "GET", "/api/nowhere"))[0] == 404
    assert (await http(setd, "PUT", "/api/faults", {}))[0] == 405


async def test_the_ca_to_trust_is_served(setd):
    status, kind, pem = await http(setd, "GET", "/ca.pem")
    assert status == 200 and kind == "application/x-pem-file"
    assert pem == setd.ca_pem() and pem.startswith("-----BEGIN CERTIFICATE-----")
