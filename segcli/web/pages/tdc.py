"""Security Services > Threat Defense Connector Settings: enabled or not, and the Default
Message Intake Address (as ``tdcconfig``); Edit Settings records a pending change."""

from __future__ import annotations

from engine.config.addresses import InvalidValue, check_email_address
from engine.config.changes import SetTdc
from segcli.web.app import PageContext, Response, action, page

PATH = "/security/tdc"


@page(PATH, menu="Security Services", title="Threat Defense Connector Settings")
async def settings(ctx: PageContext) -> Response:
    return ctx.render("tdc.html", title="Threat Defense Connector Settings", tdc=ctx.config.tdc)


@page(f"{PATH}/edit")
async def edit_form(ctx: PageContext) -> Response:
    tdc = ctx.config.tdc
    return ctx.render("tdc_edit.html", title="Threat Defense Connector Settings",
                      enabled=tdc.enabled, address=tdc.intake_address)


@action(f"{PATH}/edit")
async def edit(ctx: PageContext) -> Response:
    enabled, address = ctx.form("enabled") == "on", ctx.form("intake_address").strip()
    error = None
    if enabled and not address:
        error = "You must enter a Default Message Intake Address."
    elif address:
        try:
            address = check_email_address(address)
        except InvalidValue as exc:
            error = str(exc)
    if error is None:
        error = ctx.record(SetTdc(enabled, address or None))
    if error is not None:
        return ctx.render("tdc_edit.html", status=400, title="Threat Defense Connector Settings",
                          enabled=enabled, address=address, errors={"intake_address": error})
    return ctx.redirect(PATH)
