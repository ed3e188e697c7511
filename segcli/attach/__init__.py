"""A second console on a running appliance: ``segcli --data DIR`` while the appliance of
DIR runs attaches to it through ``<DIR>/cli.sock`` and gets the same live CLI as SSH.

- ``wire.py``: the frames on the socket (a byte stream like an SSH session channel:
  data, window size, end of input one way; data and the exit status the other);
- ``server.py``: the appliance's side (the socket, the peer's uid, one CLI per console,
  the SSH shells' channel machinery of :mod:`segcli.ssh.shells`);
- ``client.py``: the console's side (the terminal in raw mode or a pipe, relayed).
"""
