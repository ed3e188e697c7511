"""Reporting > Delivery Status and Monitor > Message Tracking in a real browser (Debian's
chromium through Playwright) against a real ``segcli lab`` process, with mail sent over
SMTP: the.tdc.queue's row changes on Delivery Status without a reload, its host status has
the figures of ``hoststatus``, a search by subject finds the message and its details show
the TDC line, and a subject like a script is shown as text.
"""

from __future__ import annotations

import json
import re
import smtplib
import time
from collections.abc import Iterator

import pytest

from tests.e2e.web_fixtures import PASSWORD, WebAppliance, browser, context  # noqa: F401 - fixtures

XSS = "<script>alert(1)</script>"
#: A minute of the appliance's inactivity timeout lasts this many seconds here (web_fixtures).
MINUTE = 2.0
TRACKED = "was delivered for scanning with Cisco Secure Email Threat Defense."


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebAppliance]:
    appliance = WebAppliance.start(tmp_path_factory.mktemp("webreport") / "data", minute=MINUTE)
    try:
        yield appliance
    finally:
        assert appliance.stop() == 0, "".join(appliance.lines)


def _smtp_port(web: WebAppliance) -> int:
    return int(re.search(r"Gateway SMTP listener\s+127\.0\.0\.1:(\d+)", "".join(web.lines))[1])


def send(web: WebAppliance, subject: str, recipient: str = "bob@example.com") -> None:
    message = (f"From: alice@example.org\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
               f"Message-ID: <web-{abs(hash(subject))}@example.org>\r\n\r\nhello\r\n")
    with smtplib.SMTP("127.0.0.1", _smtp_port(web), timeout=30) as client:
        client.sendmail("alice@example.org", [recipient], message.encode())


def login(context, web: WebAppliance, path: str):  # noqa: F811 - a context of that fixture
    page = context.new_page()
    page.goto(web.url + path)
    assert "/login" in page.url
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_load_state()
    assert page.url == web.url + path  # back where the login started, query and all
    return page


def _cell(page, host: str, column: str) -> str:
    return page.text_content(f'#delivery-status tr[data-host="{host}"] td.{column}')


def test_delivery_status_row_of_the_tdc_queue_changes_without_a_reload(context, web):  # noqa: F811
    page = login(context, web, "reporting/delivery")
    assert page.text_content("h1") == "Delivery Status"
    before = int(_cell(page, "the.tdc.queue", "delivered").replace(",", ""))
    page.evaluate("window.notReloaded = true")  # gone if the page were loaded again
    send(web, "watch the queue")
    page.wait_for_function(
        "n => { const c = document.querySelector("
        "'#delivery-status tr[data-host=\"the.tdc.queue\"] td.delivered');"
        " return c && Number(c.textContent.replace(/,/g, '')) > n; }", arg=before, timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
    assert int(_cell(page, "the.tdc.queue", "delivered")) == before + 1
    assert page.locator('#delivery-status tr[data-host="example.com"]').count() == 1
    assert context.dialogs == []

    # the same rows as JSON, for the page's script
    answer = json.loads(page.evaluate(
        "fetch('/reporting/delivery?format=json').then(r => r.text())"))
    tdc = next(row for row in answer["rows"] if row["host"] == "the.tdc.queue")
    assert tdc["delivered"] == before + 1 and set(tdc) >= {
        "active", "conn_out", "delivered", "soft_bounced", "hard_bounced", "up"}

    # sorting: by name, then the other way round by clicking the same header
    page.click("#sort-host")
    page.wait_for_load_state()
    hosts = page.locator("#delivery-status tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.host)")
    assert hosts == sorted(hosts) and "sort=host" in page.url
    page.click("#sort-host")
    page.wait_for_load_state()
    hosts = page.locator("#delivery-status tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.host)")
    assert hosts == sorted(hosts, reverse=True) and "order=desc" in page.url


def test_the_host_status_of_the_tdc_queue_has_the_figures_of_hoststatus(context, web):  # noqa: F811
    send(web, "for the host status")
    page = login(context, web, "reporting/delivery?sort=delivered")
    page.wait_for_function(  # the copy is delivered and its connection closed: nothing moves
        "fetch('/reporting/delivery?format=json').then(r => r.json()).then(a => a.rows.some("
        "r => r.host === 'the.tdc.queue' && r.delivered > 0 && r.active === 0"
        " && r.conn_out === 0))", timeout=30_000, polling=500)
    page.reload()
    page.click('#delivery-status tr[data-host="the.tdc.queue"] td.host a')
    page.wait_for_load_state()
    assert page.text_content("#host-name") == "the.tdc.queue"
    figures = {row.get_attribute("data-label"): int(row.locator("td.value").text_content().replace(",", ""))
               for row in page.locator("#host-status tr[data-label]").all()}
    printed = web.cli("hoststatus the.tdc.queue\n")
    for label in ("Delivered Recipients", "Hard Bounced Recipients", "Active Recipients",
                  "Soft Bounced Events", "Completed Recipients"):
        value = int(re.search(rf"^\s*{label}\s+([\d,]+)$", printed, re.M)[1].replace(",", ""))
        assert figures[label] == value, label
    page.goto(web.url + "reporting/delivery/host?hostname=nowhere.example")
    assert page.text_content("#message") == "No record of host: nowhere.example"
    # a sort the page does not offer: refused, said why
    answer = page.goto(web.url + "reporting/delivery?sort=body")
    assert answer.status == 400 and "Unknown column to sort by" in page.text_content("#message")
    refused = page.evaluate("fetch('/reporting/delivery?format=json&order=up')"
                            ".then(r => r.json().then(a => [r.status, a.error]))")
    assert refused == [400, "Unknown sort order: 'up'; asc or desc."]


def test_tracking_by_subject_shows_the_tdc_line_and_a_script_subject_as_text(context, web):  # noqa: F811
    send(web, f"tracked {XSS}")
    page = login(context, web, "monitor/tracking")
    page.select_option("#subject_match", "Contains")
    page.fill("#subject", "tracked <script>")
    deadline_ms = 30_000
    # the journal copy's delivery is asynchronous: search until the message is Delivered
    page.click("#search")
    page.wait_for_load_state()
    for _ in range(60):
        if page.locator("#tracking-results td.state").first.text_content() == "Delivered":
            break
        page.wait_for_timeout(deadline_ms / 60)
        page.reload()
    assert page.text_content("#tracking-results td.subject") == f"tracked {XSS}"
    assert page.locator("#tracking-results script").count() == 0
    page.click("#tracking-results a.details")
    page.wait_for_load_state()
    assert page.text_content("#summary-subject") == f"tracked {XSS}"
    assert page.locator("main script").count() == 0
    mid = int(page.text_content("#summary-mid"))
    [tdc] = page.locator(".tdc-line").all_text_contents()
    assert re.fullmatch(rf"\d\d \w{{3}} \d{{4}} [\d:]{{8}} \(GMT \+00:00\)  TDC: Message \d+ {TRACKED}",
                        tdc), tdc
    events = page.locator("#events td.event-text").all_text_contents()
    assert f'MID {mid} Subject "tracked {XSS}"' in events or \
        f"MID {mid} Subject 'tracked {XSS}'" in events
    assert context.dialogs == []  # no script ran

    # bad input: the error beside its field, no results
    page.goto(web.url + "monitor/tracking?mid=abc&search=Search")
    assert page.text_content("#error-mid") == "A Message ID (MID) is a number."
    assert page.locator("#tracking-results").count() == 0


def test_a_page_nobody_touches_stops_refreshing_and_lets_the_session_expire(context, web):  # noqa: F811
    """The refresh is not activity: after the inactivity timeout without a key, click or
    pointer on the page, the script stops asking and the session expires as configured."""
    page = login(context, web, "reporting/delivery")
    web.cli('adminaccessconfig timeout 5\ncommit "short web timeout"\n')
    try:
        page.reload()  # the page learns the new timeout
        # (functions, not expressions: the page's policy forbids evaluating strings)
        page.wait_for_function("() => document.getElementById('delivery-status')"
                               ".dataset.refreshed")
        page.wait_for_function("() => document.getElementById('delivery-status')"
                               ".dataset.stopped === 'idle'", timeout=(5 * MINUTE + 10) * 1000)
        time.sleep(5 * MINUTE + 1)  # the last refresh was before the stop
        answer = page.evaluate("fetch('/reporting/delivery?format=json')"
                               ".then(r => [r.redirected, r.url])")
        assert answer[0] and "/login" in answer[1]
    finally:
        web.cli('adminaccessconfig timeout 30\ncommit "back to 30"\n')
