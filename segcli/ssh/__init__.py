"""The appliance's SSH server (Twisted Conch): who may log in (:mod:`.auth`, with the
wrong-password pauses of :mod:`.throttle`), host keys,
the realm and avatar (:mod:`.session`), the CLI on a channel (:mod:`.shells`, over the
renderers of :mod:`segcli.terminal`), and file transfer of ``/configuration`` by SFTP
and legacy SCP.  Imports ``commands``, ``engine`` and ``segcli.terminal``.
"""
