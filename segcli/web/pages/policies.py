"""Mail Policies > Incoming Mail Policies: the policy table with its service columns (the
last one the Threat Defense Connector, as ``policyconfig`` shows it), each policy's TDC
page, and Add Policy.  Every submit records a pending change."""

from __future__ import annotations

from dataclasses import dataclass

from commands.policyconfig import tdc_column
from engine.config.addresses import InvalidValue, split_members
from engine.config.changes import AddPolicy, SetThreatDefense
from engine.config.model import Config, Direction, MailPolicy, ScanSetting, TdcMode
from segcli.web.app import PageContext, Response, action, page

PATH = "/mail-policies/incoming"
TITLE = "Incoming Mail Policies"
#: The service columns before the Threat Defense Connector's, as AsyncOS 15.5 heads them.
SERVICES = ("Anti-Spam", "Anti-Virus", "Advanced Malware Protection", "Graymail",
            "Content Filters", "Outbreak Filters")


@dataclass(frozen=True)
class Row:
    order: int | None
    name: str
    members: list[str]
    services: list[str]
    tdc: str
    #: under "Enabled": which intake address ("Default Message Intake Address" or the custom one)
    tdc_detail: str


def _scan(setting: ScanSetting) -> str:
    return "Enabled" if setting.enabled else "Disabled"


def _tdc_detail(config: Config, policy: MailPolicy) -> str:
    if tdc_column(config, policy) != "Enabled":
        return ""
    setting = policy.threat_defense
    if setting.mode is TdcMode.CUSTOM:
        return f"Custom: {setting.custom_address}"
    return "Default Message Intake Address"


def rows(config: Config) -> list[Row]:
    """The table's rows; DEFAULT (last) has no order number, as on the appliance.  The TDC
    cell is the CLI's (``policyconfig``): Disabled, Enabled, or Not Available while the
    connector is disabled globally."""
    policies = config.policies(Direction.INCOMING).policies
    return [Row(None if policy.is_default else number, policy.name, policy.members,
                [_scan(policy.antispam), _scan(policy.antivirus), "Not Available", "Not Available",
                 "Disabled", "Not Available"], tdc_column(config, policy),
                _tdc_detail(config, policy))
            for number, policy in enumerate(policies, 1)]


@page(PATH, menu="Mail Policies", title=TITLE)
async def table(ctx: PageContext) -> Response:
    return ctx.render("policies.html", title=TITLE, services=SERVICES, rows=rows(ctx.config))


# -- a policy's Threat Defense Connector ----------------------------------------------------


def _find(ctx: PageContext, name: str) -> MailPolicy | None:
    return ctx.config.policies(Direction.INCOMING).find(name)


def _tdc_page(ctx: PageContext, policy: MailPolicy, *, mode: str, custom: str,
              errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return ctx.render("policy_tdc.html", status=status, title=TITLE, policy=policy, mode=mode,
                      custom_address=custom, errors=errors or {},
                      tdc_enabled=ctx.config.tdc.enabled,
                      default_address=ctx.config.tdc.intake_address)


def _no_policy(ctx: PageContext, name: str) -> Response:
    return ctx.render("message.html", status=404, title=TITLE,
                      message=f'There is no incoming mail policy named "{name}".')


@page(f"{PATH}/tdc")
async def policy_tdc(ctx: PageContext) -> Response:
    policy = _find(ctx, ctx.arg("policy"))
    if policy is None:
        return _no_policy(ctx, ctx.arg("policy"))
    setting = policy.threat_defense
    return _tdc_page(ctx, policy, mode=setting.mode.value, custom=setting.custom_address)


@action(f"{PATH}/tdc")
async def set_policy_tdc(ctx: PageContext) -> Response:
    name, custom = ctx.form("policy"), ctx.form("custom_address").strip()
    policy = _find(ctx, name)
    if policy is None:
        return _no_policy(ctx, name)
    try:
        mode = TdcMode(ctx.form("mode"))
    except ValueError:
        return _tdc_page(ctx, policy, mode="", custom=custom, status=400,
                         errors={"mode": "Choose one of the three settings."})
    error = ctx.record(SetThreatDefense(Direction.INCOMING, policy.name, mode,
                                        custom if mode is TdcMode.CUSTOM else ""))
    if error is not None:
        field = "custom_address" if mode is TdcMode.CUSTOM else "mode"
        return _tdc_page(ctx, policy, mode=mode.value, custom=custom, status=400,
                         errors={field: error})
    return ctx.redirect(PATH)


# -- Add Policy -------------------------------------------------------------------------------


@page(f"{PATH}/add")
async def add_form(ctx: PageContext) -> Response:
    return ctx.render("policy_add.html", title=TITLE, name="", recipients="", senders="")


def _members(text: str) -> tuple[list[str], str | None]:
    try:
        return list(dict.fromkeys(split_members(text))), None
    except InvalidValue as exc:
        return [], str(exc)


@action(f"{PATH}/add")
async def add(ctx: PageContext) -> Response:
    name = ctx.form("name").strip()
    texts = {"recipients": ctx.form("recipients"), "senders": ctx.form("senders")}
    members, errors = {}, {}
    for side, text in texts.items():
        members[side], problem = _members(text) if text.strip() else ([], None)
        if problem is not None:
            errors[side] = problem
    if not errors:
        error = ctx.record(AddPolicy(Direction.INCOMING, name, tuple(members["senders"]),
                                     tuple(members["recipients"])))
        if error is not None:
            errors["recipients" if "member" in error.lower() else "name"] = error
    if errors:
        return ctx.render("policy_add.html", status=400, title=TITLE, name=name, errors=errors,
                          **texts)
    return ctx.redirect(PATH)
