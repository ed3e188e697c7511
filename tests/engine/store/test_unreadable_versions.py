"""A committed version whose document does not load never stops the appliance.

The old control-character bug committed such a version: every later commit failed, the
poll logged a traceback every second and no segcli could start on the data directory.
Now the store passes over it to the newest version that loads, says what it passed over,
and the next commit supersedes it.
"""

from __future__ import annotations

import asyncio
import logging

from engine.appliance import Appliance, StartOptions
from engine.config.changes import SetHostname, replay
from engine.observe.timestamps import cli_time
from engine.store.database import FACTORY_ID, ConfigVersion, Store, UnreadableVersion
from tests.engine.store.unreadable import (
    GOOD_HOSTNAME,
    brick,
    bricked_document,
    insert_version,
    parse_error_place,
)


def test_latest_is_the_newest_version_that_loads(data_dir):
    brick(data_dir)
    store = Store.open(data_dir)
    running, skipped = store.latest_readable()
    assert (running.id, running.config.hostname) == (2, GOOD_HOSTNAME)
    assert [(v.id, v.comment) for v in skipped] == [(3, "bricked")]
    assert skipped[0].problem == f"Parsing failed: not well-formed XML at {parse_error_place()}."
    assert store.latest().id == 2
    store.close()


def test_listings_show_the_unreadable_version_for_what_it_is(data_dir):
    brick(data_dir)
    store = Store.open(data_dir)
    assert [type(v) for v in store.versions()] == [UnreadableVersion, ConfigVersion, ConfigVersion]
    assert isinstance(store.version(3), UnreadableVersion)
    assert store.version(2).config.hostname == GOOD_HOSTNAME
    store.close()


def test_a_commit_builds_on_the_newest_readable_version_and_supersedes_the_bad_one(data_dir):
    brick(data_dir)
    store = Store.open(data_dir)
    version = store.commit_config(lambda config: replay(config, [SetHostname("gw2.example.com")]),
                                  user="admin", comment="fixed", rollback=True)
    assert version.id == 4
    assert version.config.incoming.names == ["DEFAULT"]  # built on version 2, not the bad 3
    running, skipped = store.latest_readable()
    assert (running.id, skipped) == (4, [])
    store.close()


def test_with_no_readable_version_at_all_the_factory_configuration_runs(data_dir):
    Store.open(data_dir).close()
    store = Store.open(data_dir)
    with store.engine.begin() as connection:  # the factory version itself damaged
        connection.exec_driver_sql("UPDATE config_versions SET body = '<config>'")
    running, skipped = store.latest_readable()
    assert (running.id, running.user, len(skipped)) == (FACTORY_ID, "system", 1)
    version = store.commit_config(lambda config: replay(config, [SetHostname("gw.example.com")]),
                                  user="admin", comment="start again", rollback=True)
    assert store.latest().id == version.id == 2
    store.close()


def test_the_appliance_starts_on_the_last_good_version_and_says_why(data_dir):
    brick(data_dir)
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    try:
        assert appliance.running.id == 2
        assert appliance.config.hostname == GOOD_HOSTNAME
        notice = appliance.start_notice
        assert notice is not None
        place = parse_error_place()
        assert f"by admin cannot be read (Parsing failed: not well-formed XML at {place}" in notice
        assert f"running the configuration committed {_when(appliance, 2)} by admin instead" \
            in notice
        assert notice.endswith("The next commit replaces it.")
    finally:
        asyncio.run(appliance.stop())


def test_a_healthy_start_has_nothing_to_say(data_dir):
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    assert appliance.start_notice is None
    asyncio.run(appliance.stop())


def test_a_bad_version_committed_by_another_process_is_reported_once(data_dir, caplog):
    """The poll used to log a traceback every second, for ever."""
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    insert_version(data_dir, bricked_document())

    async def poll_three_times() -> None:
        for _ in range(3):
            await appliance.refresh()

    with caplog.at_level(logging.WARNING, logger="engine.appliance"):
        asyncio.run(poll_three_times())
    try:
        warnings = [r for r in caplog.records if r.name == "engine.appliance"]
        assert len(warnings) == 1 and "cannot be read" in warnings[0].getMessage()
        assert not any(r.exc_info for r in caplog.records)
        assert appliance.running.id == 1
    finally:
        asyncio.run(appliance.stop())


def _when(appliance: Appliance, version_id: int) -> str:
    return cli_time(appliance.store.version(version_id).committed_at)
