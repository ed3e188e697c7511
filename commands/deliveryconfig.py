"""``deliveryconfig``: system-wide delivery settings (ASYNCOS.md §6): the maximum number
of outbound connections, and the schedule of the default bounce profile: when a soft
bounced message is retried (starting at the initial interval, doubling up to the
maximum) and how long it may stay queued before it is hard bounced.

Times are in seconds; fractions are accepted so that labs and tests can run the
schedule fast.
"""

from __future__ import annotations

from collections.abc import Callable

from commands.editing import parse_options, record_all, seconds_text, usage
from commands.registry import command
from commands.session import CliSession
from engine.config import values
from engine.config.addresses import InvalidValue
from engine.config.changes import SetDelivery
from engine.config.model import INITIAL_ABOVE_MAX, DeliverySettings

COMMAND = "deliveryconfig"
OPTIONS = "[concurrency <n>] [retry <seconds>] [maxretry <seconds>] [maxqueue <seconds>]"
FORMS = f"print | setup {OPTIONS}"
CONCURRENCY_QUESTION = ("Please enter the default system wide maximum outbound message "
                        "delivery concurrency.")
RETRY_QUESTION = "Please enter the initial number of seconds to wait before retrying a message."
MAX_RETRY_QUESTION = "Please enter the maximum number of seconds to wait before retrying a message."
QUEUE_QUESTION = ("Please enter the maximum number of seconds a message may stay in the queue "
                  "before being hard bounced.")


@command(
    COMMAND,
    summary="Set up mail delivery",
    help=f"""
deliveryconfig        prints the delivery settings and a SETUP menu
deliveryconfig setup  goes straight to the SETUP questions

One-line forms:
deliveryconfig print
deliveryconfig setup {OPTIONS}
        any of: the system-wide maximum outbound concurrency (1 to 10000), the
        initial and the maximum retry interval for soft bounced messages, and the
        maximum time in the queue before a message is hard bounced (seconds)

The initial retry interval cannot be longer than the maximum.  Changes need a commit.
""",
    changes_config=True,
    grammar={"print": None, "setup": {"concurrency": None, "retry": None, "maxretry": None,
                                      "maxqueue": None}},
)
async def deliveryconfig(session: CliSession, args: list[str]) -> None:
    if args:
        await _batch(session, args[0].lower(), args[1:])
        return
    while True:
        _say_settings(session)
        choice = await session.dialog.menu([("SETUP", "Configure mail delivery.")])
        if choice is None:
            return
        await _setup(session)


def _say_settings(session: CliSession) -> None:
    delivery, say = session.config.delivery, session.dialog.say
    say()
    say('Default interface to deliver mail: Use "auto" selection.')
    say(f"Default system wide maximum outbound message delivery concurrency: "
        f"{delivery.max_concurrency}")
    say(f"Initial time to wait before retrying a message: {seconds_text(delivery.initial_retry)}")
    say(f"Maximum time to wait before retrying a message: {seconds_text(delivery.max_retry)}")
    say(f"Maximum time in queue before a message is hard bounced: "
        f"{seconds_text(delivery.max_queue_time)}")


def _seconds(bounds: tuple[float, float]) -> Callable[[str], float]:
    return lambda text: values.parse_seconds(text, bounds)


async def _setup(session: CliSession) -> None:
    """Every setting in turn, Enter keeping it; recorded as one change if anything changed."""
    dialog, current = session.dialog, session.config.delivery
    seconds = values.format_number
    concurrency = await dialog.ask_number(
        CONCURRENCY_QUESTION, low=values.SYSTEM_CONCURRENCY[0], high=values.SYSTEM_CONCURRENCY[1],
        default=current.max_concurrency)
    retry = await dialog.ask_required(RETRY_QUESTION, default=seconds(current.initial_retry),
                                      validate=_seconds(values.RETRY_SECONDS))

    def check_max(text: str) -> float:
        value = values.parse_seconds(text, values.RETRY_SECONDS)
        if value < retry:
            raise InvalidValue(INITIAL_ABOVE_MAX)
        return value

    max_retry = await dialog.ask_required(MAX_RETRY_QUESTION,
                                          default=seconds(max(current.max_retry, retry)),
                                          validate=check_max)
    max_queue = await dialog.ask_required(QUEUE_QUESTION, default=seconds(current.max_queue_time),
                                          validate=_seconds(values.QUEUE_SECONDS))
    wanted = DeliverySettings(concurrency, retry, max_retry, max_queue)
    if wanted != current:
        record_all(session, [SetDelivery(concurrency, retry, max_retry, max_queue)])


_OPTION_PARSERS: dict[str, Callable[[str], object]] = {
    "concurrency": lambda text: values.parse_int(text, values.SYSTEM_CONCURRENCY),
    "retry": _seconds(values.RETRY_SECONDS),
    "maxretry": _seconds(values.RETRY_SECONDS),
    "maxqueue": _seconds(values.QUEUE_SECONDS),
}


async def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        _say_settings(session)
    elif verb == "setup" and not rest:
        await _setup(session)
    elif verb == "setup":
        options = parse_options(rest, _OPTION_PARSERS, form=usage(COMMAND, f"setup {OPTIONS}"))
        record_all(session, [SetDelivery(options.get("concurrency"), options.get("retry"),
                                         options.get("maxretry"), options.get("maxqueue"))])
    else:
        raise usage(COMMAND, FORMS)
