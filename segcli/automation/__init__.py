"""Drivers for scripting an appliance with network-automation libraries (netmiko, scrapli).

Each driver lives in its own module and imports its library only there, so that segcli
never needs either installed (``pip install "segcli[automation]"`` brings both).
"""
