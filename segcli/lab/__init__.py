"""The other side of the wire, for labs and tests: the SETD intake simulator and a
small authoritative DNS zone, both on loopback in the appliance's event loop.

Lab tooling may import ``engine/`` (certificates, the SMTP server); the engine never
imports this package.
"""
