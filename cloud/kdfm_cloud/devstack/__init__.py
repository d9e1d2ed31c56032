"""Launchers for the real components of a local stack: Mosquitto and OpenBao on loopback ports.

`kdfm-cloud dev up` and the test harness both start components through these modules, so the
development stack and the tests run the very same configuration.
"""
