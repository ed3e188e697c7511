"""The web interface in a real browser (Debian's chromium through Playwright) against a real
``segcli lab`` process: log in, the TDC settings and a policy's TDC page as pending changes,
commit, and the CLI sees it (and the GUI sees a CLI commit); bad input refused next to its
field; a read-only user and a CSRF-less POST refused by the server; a policy named like a
script shown as text; plain HTTP redirected; the cookie's flags; wrong passwords throttled;
an idle session logged out.

One appliance and one browser serve the module; each test has its own browser context (its
own cookies).  The appliance's minutes of inactivity last one second each
(tests/e2e/web_fixtures.py): the idle-timeout test configures 5 of them.
"""

from __future__ import annotations

import http.client
import re
import ssl
import time
from collections.abc import Iterator

import pytest

from tests.e2e.web_fixtures import PASSWORD, WebAppliance, browser  # noqa: F401 - fixture

MINUTE = 1.0
NEW_DEFAULT = "a1b2c3-webui-000001@beta.cmd.cisco.com"
CUSTOM = "d4e5f6-webui-000002@mail.eu.cmd.cisco.com"
FROM_CLI = "0c1d2e-fromcli-00003@beta.cmd.cisco.com"
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebAppliance]:
    appliance = WebAppliance.start(tmp_path_factory.mktemp("web") / "data", minute=MINUTE)
    try:
        appliance.cli('userconfig add viewer "Viewer Example" readonly viewer-password-1\n'
                      'commit "a read-only account"\n')
        yield appliance
    finally:
        assert appliance.stop() == 0, "".join(appliance.lines)


@pytest.fixture
def context(browser):  # noqa: F811 - the module's browser fixture
    context = browser.new_context(ignore_https_errors=True)
    dialogs: list[str] = []
    context.on("page", lambda page: page.on("dialog", lambda d: (dialogs.append(d.message),
                                                                 d.dismiss())))
    context.dialogs = dialogs
    try:
        yield context
    finally:
        context.close()


def login(context, web: WebAppliance, user: str = "admin", password: str = PASSWORD):
    page = context.new_page()
    page.goto(web.url)
    assert "/login" in page.url
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_load_state()
    return page


def test_admin_sets_tdc_and_a_custom_policy_address_and_commits_for_the_cli(context, web):
    page = login(context, web)
    assert page.text_content("#current-user") == "admin"
    assert "Incoming Mail Policies" in page.text_content("h1")
    assert page.locator("#uncommitted").count() == 0

    page.goto(web.url + "security/tdc")
    assert page.text_content("#tdc-state") == "Enabled"  # the lab enabled it
    page.click("#edit-settings")
    page.fill("#intake_address", "not an address")
    page.click("#submit")
    assert "not an address" in page.text_content("#error-intake_address")
    assert page.locator("#uncommitted").count() == 0  # refused: nothing pending

    page.fill("#intake_address", "")
    page.click("#submit")
    assert "must enter" in page.text_content("#error-intake_address")
    page.uncheck("#enabled")  # disabled, an empty field keeps the address
    page.click("#submit")
    assert page.text_content("#tdc-state") == "Disabled"
    assert page.text_content("#uncommitted") == "Uncommitted changes"
    page.goto(web.url + "mail-policies/incoming")
    assert set(page.locator("td.tdc a").all_text_contents()) == {"Not Available"}

    page.goto(web.url + "security/tdc/edit")
    page.check("#enabled")
    page.fill("#intake_address", NEW_DEFAULT)
    page.click("#submit")
    assert page.text_content("#tdc-address") == NEW_DEFAULT

    page.goto(web.url + "mail-policies/incoming")
    page.click('tr[data-policy="partners"] td.tdc a')
    assert page.text_content("#policy-name") == "partners"
    page.fill("#custom_address", "still-not@")
    page.click("#submit")
    assert page.text_content("#error-custom_address")
    page.check("#mode-custom")
    page.fill("#custom_address", CUSTOM)
    page.click("#submit")
    assert "Custom: " + CUSTOM in page.text_content('tr[data-policy="partners"] td.tdc')

    # Not committed yet: the CLI still runs the old configuration.
    assert NEW_DEFAULT not in web.cli("tdcconfig print\n")
    page.click("#commit-changes")
    assert len(page.locator("#changes li").all()) == 3
    page.fill("#comment", "TDC from the web UI")
    page.click("#commit")
    assert page.text_content("#committed") == "Your changes have been committed."
    assert page.locator("#uncommitted").count() == 0

    printed = web.cli("tdcconfig print\n")
    assert f"Default Message Intake Address:   {NEW_DEFAULT}" in printed
    assert f"partners: Custom Message Intake Address: {CUSTOM}" in printed
    assert f"<tdc_intake_address>{NEW_DEFAULT}</tdc_intake_address>" in web.cli("showconfig\nY\n")


def test_a_cli_commit_shows_in_the_gui_at_once(context, web):
    """...and the commit history has the GUI's commit (the one before), with its comment."""
    page = login(context, web)
    printed = web.cli(f'tdcconfig enable {FROM_CLI}\ncommit "from the CLI"\n'
                      "rollbackconfig print\n")
    assert re.search(r" 1\. .* admin +TDC from the web UI\n", printed), printed
    page.goto(web.url + "security/tdc")
    assert page.text_content("#tdc-address") == FROM_CLI


def test_a_policy_named_like_a_script_is_shown_as_text(context, web):
    page = login(context, web)
    page.goto(web.url + "mail-policies/incoming/add")
    page.fill("#name", XSS)
    page.fill("#recipients", "@xss.example.com")
    page.click("#submit")
    assert page.text_content(f'tr[data-policy="{XSS}"] td.name').startswith(XSS)
    page.click(f'tr[data-policy="{XSS}"] td.tdc a')
    assert page.text_content("#policy-name") == XSS
    page.goto(web.url + "mail-policies/incoming/tdc?policy=" + XSS.replace("/", "%2F"))
    page.goto(web.url + "mail-policies/incoming/add")
    page.fill("#name", XSS)
    page.fill("#recipients", "@xss.example.com")
    page.click("#submit")  # refused: the name is taken, and the refusal quotes it
    assert XSS in page.text_content("#error-name")
    assert page.locator("script").count() == 1  # the appliance's own segcli.js only
    assert context.dialogs == []
    page.goto(web.url + "commit")
    page.click("#abandon")
    assert page.locator("#uncommitted").count() == 0


def _csrf(page) -> str:
    return page.get_attribute('input[name="csrf"]', "value")


def test_the_server_refuses_a_read_only_user_and_a_post_without_the_csrf_token(context, web):
    viewer = login(context, web, "viewer", "viewer-password-1")
    viewer.goto(web.url + "security/tdc")
    assert viewer.locator("#edit-settings").count() == 0
    forged = viewer.request.post(web.url + "security/tdc/edit", form={
        "csrf": _csrf(viewer), "enabled": "on", "intake_address": NEW_DEFAULT})
    assert forged.status == 403
    assert "not in the correct access group" in forged.text()
    viewer.goto(web.url + "security/tdc")
    assert viewer.locator("#uncommitted").count() == 0

    admin_context = context.browser.new_context(ignore_https_errors=True)
    try:
        admin = login(admin_context, web)
        form = {"enabled": "on", "intake_address": NEW_DEFAULT}
        assert admin.request.post(web.url + "security/tdc/edit", form=form).status == 403
        assert admin.request.post(web.url + "security/tdc/edit",
                                  form={**form, "csrf": "guessed"}).status == 403
        admin.goto(web.url + "security/tdc")
        assert admin.locator("#uncommitted").count() == 0
        assert admin.request.post(web.url + "security/tdc/edit",
                                  form={**form, "csrf": _csrf(admin)}).status == 200
        admin.goto(web.url + "security/tdc")
        assert admin.locator("#uncommitted").count() == 1
    finally:
        admin_context.close()


def test_https_offers_the_appliances_certificate(web):
    """The web interface's certificate is the appliance's own (the SMTP listener's)."""
    port = int(web.url.rstrip("/").rsplit(":", 1)[1])
    served = ssl.get_server_certificate(("127.0.0.1", port))
    own = (web.data_dir / "tls" / "server.pem").read_text()
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(own)


def test_plain_http_redirects_to_https_and_the_cookie_is_guarded(context, web):
    connection = http.client.HTTPConnection("127.0.0.1", web.http_port, timeout=30)
    connection.request("GET", "/security/tdc")
    answer = connection.getresponse()
    assert answer.status == 301
    assert answer.getheader("Location") == web.url + "security/tdc"
    connection.close()

    page = login(context, web)
    page.goto(f"http://127.0.0.1:{web.http_port}/mail-policies/incoming")
    assert page.url == web.url + "mail-policies/incoming"
    [cookie] = [c for c in context.cookies() if c["name"] == "segcli_session"]
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(web.url + "security/tdc")
    assert "/login" in page.url  # the session is gone on the server


def test_wrong_passwords_are_refused_ever_more_slowly(context, web):
    page = context.new_page()
    times = []
    for _ in range(3):
        page.goto(web.url + "login")
        page.fill("#username", "nobody")
        page.fill("#password", "wrong")
        started = time.monotonic()
        page.click("#login")
        page.wait_for_selector("#login-error")
        times.append(time.monotonic() - started)
    assert page.text_content("#login-error") == "Invalid username or password."
    # The source's pauses double: 1 s, 2 s, 4 s (lower bounds, never upper ones).
    assert times[1] >= 2.0 and times[2] >= 4.0, times


def test_an_idle_session_is_logged_out_after_the_configured_timeout(context, web):
    page = login(context, web)
    web.cli('adminaccessconfig timeout 5\ncommit "short web timeout"\n')
    try:
        page.goto(web.url + "security/tdc")
        assert "/login" not in page.url
        time.sleep(5 * MINUTE + 1.5)
        page.goto(web.url + "security/tdc")
        assert re.search(r"/login\?next=/security/tdc$", page.url)
    finally:
        web.cli('adminaccessconfig timeout 30\ncommit "back to 30"\n')
