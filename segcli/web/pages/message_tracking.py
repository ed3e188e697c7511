"""Monitor > Message Tracking: the search form (a GET: searching changes nothing), the
results, newest first and bounded, and a message's details: its events, the messages made
from it, and for a journaled message the single TDC line of SPEC.md §1.

The search reads the store (engine/observe/tracking_search.py) in a thread; the form's
fields are read and checked in segcli/web/tracking.py.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from engine.config.text import is_digits
from engine.observe.tracking_search import MOST, Query, details, search
from segcli.web.app import PageContext, Response, page
from segcli.web.tracking import DEFAULT_LIMIT, LIMITS, MATCHES, TEXT_FIELDS, parse_search, shown_time

PATH = "/monitor/tracking"
DETAILS_PATH = f"{PATH}/message"
TITLE = "Message Tracking"


def _store(ctx: PageContext) -> Engine:
    mail = ctx.appliance.mail
    return mail.store.engine if mail is not None else ctx.appliance.store.engine


@page(PATH, menu="Monitor", title=TITLE)
async def tracking(ctx: PageContext) -> Response:
    params = {key.decode("utf-8", "replace"): ctx.arg(key.decode("utf-8", "replace"))
              for key in (ctx.request.args or {})}
    form = parse_search(params)
    results = None
    if form.searched and form.query is not None:
        query: Query = form.query
        results = await asyncio.to_thread(search, _store(ctx), query)
    return ctx.render("tracking.html", status=400 if form.errors else 200, title=TITLE,
                      form=form, values=form.values, errors=form.errors, results=results,
                      text_fields=TEXT_FIELDS, matches=MATCHES, limits=LIMITS,
                      default_limit=DEFAULT_LIMIT, most=MOST, shown_time=shown_time,
                      details_path=DETAILS_PATH)


@page(DETAILS_PATH)
async def message(ctx: PageContext) -> Response:
    mid = ctx.arg("mid").strip()
    if not is_digits(mid):
        return ctx.render("message.html", status=400, title=TITLE,
                          message="A Message ID (MID) is a number.")
    shown = await asyncio.to_thread(details, _store(ctx), int(mid))
    if shown is None:
        return ctx.render("message.html", status=404, title=TITLE,
                          message=f"No record of message MID {mid}.")
    return ctx.render("tracking_message.html", title="Message Details", shown=shown,
                      shown_time=shown_time, related=shown.family.describe(),
                      details_path=DETAILS_PATH, back=PATH)
