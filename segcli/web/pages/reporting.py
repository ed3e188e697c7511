"""Reporting > Delivery Status: the destination domains with ``the.tdc.queue`` (the figures
of ``tophosts``), sortable by any column, refreshing itself: ``static/delivery_status.js``
fetches the same rows as JSON (``?format=json``) every few seconds and rewrites the
table's body.  It stops once nobody has touched the page for the session's inactivity
timeout: a tab left open must not keep a session alive for ever.  Each domain links to
its host status (the figures of ``hoststatus``).

The rows come from segcli/web/delivery_status.py; nothing here counts anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.mail.mail_engine import MailEngine
from engine.observe.timestamps import cli_time, now
from segcli.web.app import PageContext, Response, page
from segcli.web.delivery_status import COLUMNS, BadSort, Sort, delivery_rows, host_status

PATH = "/reporting/delivery"
HOST_PATH = f"{PATH}/host"
TITLE = "Delivery Status"
#: How often the page asks for fresh rows (milliseconds; the script reads it from the page).
REFRESH_MS = 3000
NO_ENGINE = "The mail engine is not running in this process: no delivery figures."


def _mail(ctx: PageContext) -> MailEngine | None:
    return ctx.appliance.mail


@page(PATH, menu="Reporting", title=TITLE)
async def delivery_status(ctx: PageContext) -> Response:
    wants_json = ctx.arg("format") == "json"
    try:
        sort = Sort.parse(ctx.arg("sort") or None, ctx.arg("order") or None)
    except BadSort as exc:
        if wants_json:
            return _json_error(ctx, str(exc), 400)
        return ctx.render("message.html", status=400, title=TITLE, message=str(exc))
    mail = _mail(ctx)
    if mail is None:
        if wants_json:
            return _json_error(ctx, NO_ENGINE, 503)
        return ctx.render("message.html", status=503, title=TITLE, message=NO_ENGINE)
    rows = delivery_rows(mail, ctx.appliance.config.tdc.enabled, sort)
    as_of = cli_time(now())
    if wants_json:
        return ctx.json({"as_of": as_of, "sort": sort.column, "order": sort.order,
                         "rows": [row.as_json() for row in rows]})
    return ctx.render("delivery_status.html", title=TITLE, rows=rows, columns=COLUMNS,
                      sort=sort, as_of=as_of, host_path=HOST_PATH, refresh_ms=REFRESH_MS,
                      idle_ms=int(ctx.app.sessions.timeout_seconds() * 1000))


def _json_error(ctx: PageContext, message: str, status: int) -> Response:
    response = ctx.json({"error": message})
    response.status = status
    return response


@page(HOST_PATH)
async def host(ctx: PageContext) -> Response:
    """One destination's status, as ``hoststatus <hostname>`` shows it."""
    name = ctx.arg("hostname").strip()
    mail = _mail(ctx)
    if mail is None:
        return ctx.render("message.html", status=503, title=TITLE, message=NO_ENGINE)
    if not name:
        return ctx.render("message.html", status=400, title="Host Status",
                          message="Give the recipient host: ?hostname=the.tdc.queue")
    found = await host_status(mail, ctx.appliance.config.tdc.enabled, name)
    if found is None:
        return ctx.render("message.html", status=404, title="Host Status",
                          message=f"No record of host: {name}")
    return ctx.render("host_status.html", title="Host Status", host=found,
                      as_of=cli_time(now()), oldest=_when(found.oldest),
                      last_activity=_when(found.last_activity), back=PATH)


def _when(timestamp: float | None) -> str:
    return cli_time(datetime.fromtimestamp(timestamp, UTC)) if timestamp else ""
