"""The other side of the wire, for labs, drills and tests, on loopback in the appliance's
event loop, and the commands that talk to a running lab.

- :mod:`~segcli.lab.runner`: ``segcli lab``: start it all and configure the gateway for it.
- SETD: :mod:`~segcli.lab.setd_state` (accounts, what arrived, totals, faults),
  :mod:`~segcli.lab.setd_smtp` (the intake hosts), :mod:`~segcli.lab.setd_faults`,
  :mod:`~segcli.lab.setd_dashboard` (the "portal" over HTTP), :mod:`~segcli.lab.intake`,
  :mod:`~segcli.lab.journal_check`; :mod:`~segcli.lab.setd_simulator` serves them.
- The network: :mod:`~segcli.lab.dns_zone` (authoritative, query log, faults),
  :mod:`~segcli.lab.dns_blackhole` (a DNS server that never answers),
  :mod:`~segcli.lab.udp_and_tcp`; the delivery sink, :mod:`~segcli.lab.sink`.
- Traffic: :mod:`~segcli.lab.traffic` (messages over real SMTP).
- Control: :mod:`~segcli.lab.control` (the ``<data>/lab.sock`` channel),
  :mod:`~segcli.lab.control_ops` (its operations), :mod:`~segcli.lab.commands`
  (``segcli lab send|setd|dns|fault``).

Lab tooling may import ``engine/`` (certificates, the SMTP server); the engine never
imports this package.
"""
