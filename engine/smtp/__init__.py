"""The wire: the ESMTP server protocol (:mod:`.server`) and client (:mod:`.client`) on
Twisted, the RFC 5321 syntax of the names a client sends (:mod:`.syntax`), their TCP
transports, TLS material and checks, the DNS resolver with AsyncOS's
error classes, where an outbound connection goes (:mod:`.outbound`), and the raw line
client ``telnet`` opens.

Knows SMTP, not mail policy: imports ``engine.config`` only.
"""
