"""DrillLab on its own: the values a drill refers to, and the mail log read across a roll."""

from __future__ import annotations

import asyncio

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
    assert "lab.blackhole" not in values  # only once a dns_blackhole fault is armed
    assert 'MID 1 Subject "after the roll"' in texts
    assert not data_dir.exists()
