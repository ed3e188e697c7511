"""DrillLab on its own: the values a drill refers to, and the mail log read across a roll."""

from __future__ import annotations

import asyncio

import pytest

from segcli.drills.checks import MailLogWatch
from segcli.drills.lab import DrillLab
from segcli.drills.model import TrafficSpec


def test_fast_lab_values_and_a_log_followed_across_a_roll(run):
    async def scenario():
        lab = DrillLab(fast=True)
        await lab.start()
        try:
            values = dict(lab.values)
            assert lab.data_dir is not None and (lab.data_dir / "cli.sock").is_socket()
            watch = MailLogWatch(lab)
            assert lab.appliance is not None and lab.appliance.mail is not None
            lab.appliance.mail.mail_log.roll()  # mail.current starts again
            await lab.send(TrafficSpec("m1", subject="after the roll"))
            for _ in range(200):
                watch.poll()
                if any("after the roll" in line.text for line in watch.lines):
                    break
                await asyncio.sleep(0.05)
            texts = [line.text for line in watch.lines]
            watch.close()
            return values, texts, lab.data_dir
        finally:
            await lab.stop()

    values, texts, data_dir = run(scenario(), timeout=60)
    assert values["L"] == 12 and values["r"] == 1 and values["a"] == 6 and values["i"] == 0.5
    assert values["tol"] == 1.5 and values["d"] > 0 and values["lab.Cmax"] >= 3
    assert values["lab.default_intake"] == (f"{values['lab.default_local']}@"
                                            f"{values['lab.default_domain']}")
    assert values["lab.custom_policy"] == "partners"
    assert values["lab.dns"].startswith("127.0.0.1:")
    assert values["lab.sink"] == f"127.0.0.1:{values['lab.sink_port']}"
    assert isinstance(values["lab.sink_port"], int) and values["lab.sink_port"] > 0
    # free ports only, never segcli lab's preferred ones (kernel-chosen ports are >= 32768)
    from segcli.lab.runner import PREFERRED

    dns_port = int(values["lab.dns"].rpartition(":")[2])
    assert not {values["lab.sink_port"], dns_port} & set(PREFERRED.values())
    assert "lab.blackhole" not in values  # only once a dns_blackhole fault is armed
    assert 'MID 1 Subject "after the roll"' in texts
    assert not data_dir.exists()


def test_a_drills_dns_records_are_in_the_zone_before_its_first_phase(run):
    """``[[lab.dns_record]]``: asked of the lab's zone over real DNS once the drill is
    prepared, the records are there (two MX of one name together, replacing none other)."""
    import dns.asyncresolver

    from segcli.drills.model import Drill, LabSpec

    drill = Drill(id="records", title="t", category="dns", ticket_text="t",
                  vars={"mx": "mx9.${lab.default_domain}"},
                  lab=LabSpec(dns_records=("extra.example.test MX 10 ${mx}",
                                           "extra.example.test MX 20 mx2.example.test",
                                           "${mx} A 127.0.0.9")))

    async def scenario():
        lab = DrillLab(fast=True)
        await lab.start()
        try:
            lab.prepare(drill)
            resolver = dns.asyncresolver.Resolver(configure=False)
            host, port = lab.values["lab.dns"].split(":")
            resolver.nameservers, resolver.port = [host], int(port)
            mx = await resolver.resolve("extra.example.test", "MX")
            a = await resolver.resolve(lab.values["mx"], "A")
            exchanges = sorted((r.preference, r.exchange.to_text()) for r in mx)
            return exchanges, [r.address for r in a], lab.values["mx"]
        finally:
            await lab.stop()

    mx, a, name = run(scenario(), timeout=60)
    assert mx == [(10, f"{name}."), (20, "mx2.example.test.")]
    assert a == ["127.0.0.9"]


def _started_far_enough(lab: DrillLab, stage: str) -> bool:
    return lab.data_dir is not None if stage == "directory" else lab.appliance is not None


@pytest.mark.parametrize("stage", ["directory", "appliance"])
def test_ctrl_c_while_the_lab_starts_leaves_no_directory_behind(run, stage):
    """Cancelled (what Ctrl-C does to ``asyncio.run``'s task) while still starting -- in
    the appliance's opening thread, or once the appliance is open -- the temporary data
    directory is removed, nothing is left listening, and the cancellation goes on."""

    async def scenario():
        lab = DrillLab(fast=True)
        starting = asyncio.ensure_future(lab.start())
        while not _started_far_enough(lab, stage):
            assert not starting.done()
            await asyncio.sleep(0)
        assert not starting.done()
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        return lab

    lab = run(scenario(), timeout=60)
    assert lab.data_dir is not None and not lab.data_dir.exists()
    assert lab.appliance is None and lab.lab is None
