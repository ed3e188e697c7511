"""A data directory as the old control-character bug left it: the latest committed
version holds a document XML cannot hold (a policy named ``p\\x01x``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from engine.config.changes import SetHostname, replay
from engine.config.model import Config, MailPolicy
from engine.config.xml_document import to_xml
from engine.store.database import Store
from engine.store.models import ConfigVersionRow

GOOD_HOSTNAME = "gw.example.com"


def bricked_document() -> str:
    """What ``commit`` wrote after ``policyconfig incoming new p\\x01x @x.example.com``."""
    config = Config()
    config.incoming.policies.insert(0, MailPolicy("p\x01x", recipients=["@x.example.com"]))
    return to_xml(config)


def parse_error_place() -> str:
    """Where XML parsing of :func:`bricked_document` fails, as the error says it
    (``line 54, column 21``): computed, so that a new setting in the document moves it."""
    for number, line in enumerate(bricked_document().splitlines(), 1):
        if "\x01" in line:
            return f"line {number}, column {line.index(chr(1)) + 1}"
    raise AssertionError("the bricked document holds no control character")


def insert_version(data_dir: Path, body: str, *, comment: str = "bricked",
                   user: str = "admin") -> int:
    """Write a committed version straight into the store, as the bug did; its id."""
    store = Store.open(data_dir)
    try:
        with Session(store.engine) as session, session.begin():
            row = ConfigVersionRow(committed_at=datetime.now(UTC), user=user, comment=comment,
                                   rollback=True, body=body)
            session.add(row)
            session.flush()
            return row.id
    finally:
        store.close()


def brick(data_dir: Path) -> None:
    """Factory defaults (1), a good commit renaming the host (2), the bad commit (3)."""
    store = Store.open(data_dir)
    store.commit_config(lambda config: replay(config, [SetHostname(GOOD_HOSTNAME)]),
                        user="admin", comment="rename", rollback=True)
    store.close()
    insert_version(data_dir, bricked_document())
