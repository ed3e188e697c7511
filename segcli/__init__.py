"""segcli: terminals, transports and wiring of the emulated Secure Email Gateway."""
