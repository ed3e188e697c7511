"""The appliance without its terminals: mail flow, configuration and state.

Sub-packages, lowest first; each may import only those above it in this list:

- :mod:`engine.config`: the configuration model, its values, change records, the XML
  document and the configuration directory.
- :mod:`engine.store`: the SQLite state store (SQLAlchemy models, migrations, group
  commit, IDs, the queue's rows, user accounts).  Imports ``engine.config``.
- :mod:`engine.smtp`: the wire: SMTP server and client, TCP transports, TLS, the DNS
  resolver, outbound routing.  Imports ``engine.config``.
- :mod:`engine.observe`: what operators watch: counters, rates, the mail log and its
  line catalogue, log files, message tracking.  Imports ``engine.store``.
- :mod:`engine.mail`: the mail flow: listener side, work queue, verdicts, ordinary
  delivery, ``the.tdc.queue``, journal copies, bounces, wired by the mail engine.
  Imports all of the above.
- :mod:`engine.appliance`: the facade the command layer uses, on top.

Nothing here imports ``commands`` or ``segcli``, prompt_toolkit, Conch or rich: the engine
knows no terminal (``tests/test_layering.py`` checks it).
"""
