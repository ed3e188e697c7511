"""segcli: the terminals, transports and wiring of the emulated Secure Email Gateway.

- :mod:`segcli.main`: the ``segcli`` command: start the appliance and a console on it.
- :mod:`segcli.process`: what a process running an appliance needs (the reactor on asyncio,
  signals, the console session, SSH), shared by ``main`` and ``segcli drill start``.
- :mod:`segcli.terminal`: the two renderers of the command engine's I/O port
  (prompt_toolkit for a person, plain lines for scripts) and the pager.
- :mod:`segcli.ssh`: the SSH server (Conch): accounts, host keys, CLI channels, SFTP, SCP.
- :mod:`segcli.lab`: the other side of the wire (SETD simulator, DNS zone, sink), the
  lab's control socket and the ``segcli lab ...`` commands that use it.
- :mod:`segcli.drills`: the troubleshooting drills: file format, catalogue, runner,
  hands-on mode.
- Room to come: ``segcli.web`` (the web interface, a transport like SSH).

The only layer that knows terminals and transports; imports ``commands`` and ``engine``.
"""
