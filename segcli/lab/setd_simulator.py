"""The SETD intake simulator: the far end of ``the.tdc.queue`` for labs and tests.

It plays Cisco Secure Email Threat Defense as the gateway sees it:

* the setup of SPEC.md §1.1 gives Message Intake Addresses (intake.py), kept in a state
  file so a restarted lab keeps them;
* one SMTP host per intake domain (``mx.<domain>`` on a loopback port, STARTTLS with its
  own certificate) takes journal mail for its intake addresses only (setd_smtp.py), and
  records what arrived per address, with a digest of the attached original;
* faults on demand per intake address (setd_faults.py) reproduce every row of the
  connector's retry table;
* a dashboard (setd_dashboard.py) shows it all and drives it over HTTP; the methods below
  do the same in-process.

When given the lab's DNS zone, the simulator registers each intake domain's MX host in it.

What SETD knows and decides is setd_state.py's :class:`SetdState`; this module serves it.
It is the top of the simulator: it imports the SMTP side and the dashboard, which know
only the state.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.internet import defer

from engine.smtp import tls
from engine.smtp.server import SmtpServerConfig, SmtpServerFactory, listen_smtp
from segcli.lab.intake import DEFAULT_DOMAIN, IntakeAccount
from segcli.lab.setd_dashboard import SetdDashboard
from segcli.lab.setd_smtp import IntakeSession, IntakeTls
from segcli.lab.setd_state import DEFAULT_KEEP, IntakeHost, SetdState

if TYPE_CHECKING:
    from segcli.lab.dns_zone import DnsZone


class SetdSimulator(SetdState):
    """The simulated SETD served: its state (:class:`SetdState`: intake accounts, received
    mail, faults, events) with an SMTP host per intake domain and the dashboard.

    *state_dir* holds the intake accounts (``setd_state.json``) and the TLS material
    (``tls/``: the CA the gateway must trust; ``tls-untrusted/``: the CA nobody trusts).
    *tls_maximum* pins the newest TLS version offered (TLS 1.2 by default, as the vendor's
    log lines show); *smtp_timeout* is how long an idle (or hung) connection is kept.
    *accept_non_journal* makes an intake address take mail that is not a journal (recorded
    as accepted, with the problem noted) instead of refusing it with 550 5.6.0: the
    benchmark compares the gateway with an MTA whose journal copy is a plain bcc.
    ``totals`` counts every message recorded per outcome, however few ``keep`` remembers.
    *max_message_size* is the listeners' SIZE limit (the big-message benchmark raises it).
    """

    def __init__(self, state_dir: Path, *, domain: str = DEFAULT_DOMAIN, host: str = "127.0.0.1",
                 keep: int = DEFAULT_KEEP, tls_maximum: tls.TlsVersion | None = tls.TlsVersion.TLSv1_2,
                 smtp_timeout: float = 300.0, accept_non_journal: bool = False,
                 max_message_size: int = SmtpServerConfig.max_message_size) -> None:
        super().__init__(state_dir, domain=domain, host=host, keep=keep,
                         accept_non_journal=accept_non_journal)
        self.tls_maximum = tls_maximum
        self.smtp_timeout = smtp_timeout
        self.max_message_size = max_message_size
        self._zone: DnsZone | None = None
        self._dashboard: SetdDashboard | None = None
        self._running = False

    def _intake_set_up(self, account: IntakeAccount) -> None:
        """A running simulator starts serving a new account's domain at once."""
        if self._running and account.domain not in self._hosts:
            self._serve(account.domain)

    # -- running -------------------------------------------------------------------------

    @property
    def dashboard_url(self) -> str | None:
        return self._dashboard.url if self._dashboard is not None else None

    async def start(self, *, smtp_port: int = 0, dashboard_port: int | None = 0,
                    zone: DnsZone | None = None) -> None:
        """Serve every intake domain (the default one on *smtp_port*, others on free
        ports) and the dashboard (*dashboard_port*; None: no dashboard)."""
        if self._running:
            raise RuntimeError("the SETD simulator is already running")
        self._zone = zone
        domains = [self.domain, *(d for d in self.registry.domains() if d != self.domain)]
        # Key generation takes a moment the first time: not on the event loop.
        for domain in domains:
            host = self._host(domain)
            if host.material is None:
                host.material, host.untrusted = await asyncio.to_thread(self._material, domain)
        self._running = True
        try:
            for domain in domains:
                self._serve(domain, smtp_port if domain == self.domain else 0)
            if dashboard_port is not None:
                self._dashboard = SetdDashboard(self)
                self._dashboard.listen(dashboard_port, self.host)
        except Exception:
            await self.stop()
            raise
        self.event("SETD simulator started")

    async def stop(self) -> None:
        """Close the listeners, their connections and the dashboard; settle slow replies."""
        self._running = False
        waits: list[defer.Deferred[Any]] = []
        for host in self._hosts.values():
            if host.listening is not None:
                waits.append(defer.maybeDeferred(host.listening.stopListening))
                host.listening = None
            if host.factory is not None:
                host.factory.close_all()
        if self._dashboard is not None:
            waits.append(self._dashboard.stop())
            self._dashboard = None
        self._settle_later_replies()
        if waits:
            await defer.gatherResults(waits).asFuture(asyncio.get_running_loop())

    def _material(self, domain: str) -> tuple[tls.TlsMaterial, tls.TlsMaterial]:
        """The certificates of *domain*'s MX host: one from the lab CA the gateway trusts,
        one for the same name from a CA nobody trusts.  Made once, kept on disk; making
        them blocks (key generation, files)."""
        mx_host, name = self.mx_host_of(domain), f"intake-{domain}"
        trusted = tls.ensure_server_certificate(self.state_dir / "tls", [mx_host], name=name)
        untrusted = tls.ensure_server_certificate(self.state_dir / "tls-untrusted", [mx_host],
                                                  name=name, ca_common_name="Untrusted lab CA")
        return trusted, untrusted

    def _serve(self, domain: str, port: int = 0) -> IntakeHost:
        """Listen for *domain*'s MX host and put it in the DNS zone."""
        host = self._host(domain)
        if host.material is None:  # a domain set up while running: made here, once
            host.material, host.untrusted = self._material(domain)
        config = SmtpServerConfig(hostname=host.mx_host, tls_context=self._tls_for(host),
                                  timeout=self.smtp_timeout,
                                  max_message_size=self.max_message_size)
        host.factory = SmtpServerFactory(lambda: IntakeSession(self, host), config)
        host.listening = listen_smtp(host.factory, port, interface=self.host)
        host.port = host.listening.getHost().port
        if self._zone is not None:
            self._zone.add_mail_domain(domain, host.mx_host, self.host)
        self.event(f"serving {domain} as {host.mx_host} on {self.host} port {host.port}")
        return host

    def _tls_for(self, host: IntakeHost) -> IntakeTls:
        assert host.material is not None and host.untrusted is not None
        limit = self.tls_maximum
        return IntakeTls(
            trusted=tls.server_context(host.material, maximum=limit),
            untrusted=tls.server_context(host.untrusted, maximum=limit),
            aborting=tls.server_context(host.material, maximum=limit),
        )
