"""``tdcconfig``: the global Threat Defense Connector settings (GUI: Security Services >
Threat Defense Connector Settings): enabled or not, the Default Message Intake Address,
and the connector's timers and connection limits (SPEC.md §4 ruling 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands.editing import parse_options, record_all, seconds_text, usage
from commands.errors import UsageError
from commands.registry import command
from commands.session import CliSession
from engine.config import values
from engine.config.addresses import InvalidValue, check_email_address
from engine.config.changes import SetTdc, SetTdcTimers
from engine.config.model import Config, Direction, TdcMode, TdcTimers

USAGE = ("usage is tdcconfig enable <intake address> | tdcconfig disable | tdcconfig print | "
         "tdcconfig timers [retry <s>] [timeout <s>] [idle <s>] [limit <s>] [scale <f>] "
         "[minconn <n>] [maxconn <n>]")
TIMER_OPTIONS = ("[retry <s>] [timeout <s>] [idle <s>] [limit <s>] [scale <f>] [minconn <n>] "
                 "[maxconn <n>]")


@command(
    "tdcconfig",
    summary="Configure the Threat Defense Connector",
    help="""
tdcconfig                            shows the settings and a SETUP menu
tdcconfig setup                      goes straight to the SETUP questions
tdcconfig enable <intake address>    enables the connector with this Default Message Intake Address
tdcconfig enable                     enables it again with the address already configured
tdcconfig disable                    disables the connector (policies then show "Not Available")
tdcconfig print                      prints the settings, the timers and the journaling policies
tdcconfig timers                     goes straight to the TIMERS questions
tdcconfig timers [retry <s>] [timeout <s>] [idle <s>] [limit <s>] [scale <f>]
                 [minconn <n>] [maxconn <n>]
        sets any of the connector's timers (seconds) and connection limits:
        retry    delay before the single retry of a journal copy (10)
        timeout  per-attempt timeout: connect, greeting, each reply (60)
        idle     an idle connection is closed after this long (5)
        limit    a journal copy leaves the.tdc.queue after this long (120)
        scale    multiplies every timer at once, e.g. 0.01 for fast labs (1)
        minconn  connections kept open while the queue has entries (3)
        maxconn  the most connections to Secure Email Threat Defense (20)

The intake address is generated in Secure Email Threat Defense (Cisco SEG, direction
incoming, no verification).  Per-policy journaling: policyconfig > EDIT > THREATDEFENSE.
""",
    changes_config=True,
    grammar={"enable": None, "disable": None, "print": None, "setup": None,
             "timers": {"retry": None, "timeout": None, "idle": None, "limit": None, "scale": None,
                        "minconn": None, "maxconn": None}},
)
async def tdcconfig(session: CliSession, args: list[str]) -> None:
    if args:
        await _batch(session, args)
        return
    while True:
        _print(session)
        choice = await session.dialog.menu([
            ("SETUP", "Enable or disable the connector and set the Default Message Intake Address."),
            ("TIMERS", "Configure the connector's timers and connection limits."),
        ])
        if choice is None:
            return
        await (_setup(session) if choice == "SETUP" else _timers(session))


async def _batch(session: CliSession, args: list[str]) -> None:
    verb, rest = args[0].lower(), args[1:]
    if verb == "print" and not rest:
        _print(session)
    elif verb == "setup" and not rest:
        await _setup(session)
    elif verb == "disable" and not rest:
        session.record(SetTdc(False))
    elif verb == "enable" and len(rest) <= 1:
        session.record(SetTdc(True, rest[0] if rest else None))
    elif verb == "timers" and not rest:
        await _timers(session)
    elif verb == "timers":
        options = parse_options(rest, _TIMER_PARSERS, form=usage("tdcconfig",
                                                                 f"timers {TIMER_OPTIONS}"))
        record_all(session, [SetTdcTimers(**{_TIMER_FIELDS[key]: value
                                             for key, value in options.items()})])
    else:
        raise UsageError(f"Invalid arguments when processing: {USAGE}")


async def _setup(session: CliSession) -> None:
    dialog, tdc = session.dialog, session.config.tdc
    enable = await dialog.confirm("Would you like to enable the Threat Defense Connector?",
                                  default=tdc.enabled)
    if not enable:
        session.record(SetTdc(False))
        return
    address = await dialog.ask_required(
        "Enter the Default Message Intake Address (generated in Secure Email Threat Defense):",
        default=tdc.intake_address or None,
        validate=check_email_address,
    )
    session.record(SetTdc(True, address))


#: The one-line keywords of the timers, with the TdcTimers field each one sets.
_TIMER_FIELDS = {"retry": "retry_delay", "timeout": "attempt_timeout", "idle": "idle_timeout",
                 "limit": "queue_limit", "scale": "time_scale", "minconn": "min_connections",
                 "maxconn": "max_connections"}
_TIMER_BOUNDS: dict[str, tuple] = {
    "retry_delay": values.TDC_RETRY_DELAY, "attempt_timeout": values.TDC_SECONDS,
    "idle_timeout": values.TDC_SECONDS, "queue_limit": values.TDC_SECONDS,
    "time_scale": values.TIME_SCALE, "min_connections": values.TDC_CONNECTIONS,
    "max_connections": values.TDC_CONNECTIONS,
}
_TIMER_QUESTIONS = {
    "retry_delay": "Enter the delay before the single retry of a journal copy, in seconds.",
    "attempt_timeout": ("Enter the timeout for connecting and for each reply from Secure Email "
                        "Threat Defense, in seconds."),
    "idle_timeout": "Enter the time after which an idle connection is closed, in seconds.",
    "queue_limit": "Enter the longest time a journal copy may stay in the.tdc.queue, in seconds.",
    "time_scale": ("Enter the time scale: every timer is multiplied by it (1 is real time, "
                   "0.1 runs ten times faster)."),
    "min_connections": "Enter the minimum number of connections while the.tdc.queue has entries.",
    "max_connections": "Enter the maximum number of connections to Secure Email Threat Defense.",
}


def _timer_parser(field: str) -> Callable[[str], float | int]:
    bounds = _TIMER_BOUNDS[field]
    if field.endswith("connections"):
        return lambda text: values.parse_int(text, bounds)
    return lambda text: values.parse_seconds(text, bounds)


_TIMER_PARSERS = {key: _timer_parser(field) for key, field in _TIMER_FIELDS.items()}


async def _timers(session: CliSession) -> None:
    """TIMERS: every timer in turn (Enter keeps it), recorded as one change if any changed."""
    dialog, current = session.dialog, session.config.tdc.timers
    # Seconds (float) or connection counts (int): each field's parser returns that
    # field's type, which the value type of a dict keyed by field name cannot say.
    answers: dict[str, Any] = {}
    for field, question in _TIMER_QUESTIONS.items():
        parse = _timer_parser(field)
        if field == "max_connections":
            parse = _at_least(parse, int(answers["min_connections"]))
        answers[field] = await dialog.ask_required(
            question, default=values.format_number(getattr(current, field)), validate=parse)
    wanted = TdcTimers(**answers)
    if wanted != current:
        record_all(session, [SetTdcTimers(**answers)])


def _at_least(parse: Callable[[str], float | int], low: int) -> Callable[[str], float | int]:
    def check(text: str) -> float | int:
        value = parse(text)
        if value < low:
            raise InvalidValue(f"The maximum number of connections must be at least the "
                               f"minimum ({low}).")
        return value

    return check


def _say_timers(say: Callable[[str], None], timers: TdcTimers) -> None:
    say("")
    say("Timers:")
    say(f"    Retry delay:                  {seconds_text(timers.retry_delay)}")
    say(f"    Attempt timeout:              {seconds_text(timers.attempt_timeout)}")
    say(f"    Idle connection timeout:      {seconds_text(timers.idle_timeout)}")
    say(f"    Time limit in the queue:      {seconds_text(timers.queue_limit)}")
    scale = values.format_number(timers.time_scale)
    say(f"    Time scale:                   {scale}"
        + ("" if timers.time_scale == 1 else f" (every timer runs at {scale} times the value above)"))
    say(f"    Connections:                  {timers.min_connections} minimum, "
        f"{timers.max_connections} maximum")


def _print(session: CliSession) -> None:
    say = session.dialog.say
    config: Config = session.config
    say()
    say("Threat Defense Connector Settings")
    say()
    say(f"Threat Defense Connector:         {'Enabled' if config.tdc.enabled else 'Disabled'}")
    say(f"Default Message Intake Address:   {config.tdc.intake_address or '(not set)'}")
    _say_timers(say, config.tdc.timers)
    journaling = [p for p in config.policies(Direction.INCOMING).policies
                  if p.threat_defense.mode is not TdcMode.DISABLED]
    say()
    if not journaling:
        say("No incoming mail policy journals to Secure Email Threat Defense.")
        return
    say("Incoming mail policies that journal to Secure Email Threat Defense:")
    for policy in journaling:
        say(f"    {policy.name}: {policy.threat_defense.describe()}")
    if not config.tdc.enabled:
        say("(The connector is disabled: nothing is journaled until it is enabled.)")
