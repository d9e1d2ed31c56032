"""KDFM data collection agent (DCA): reads printers over SNMP, talks to the cloud outbound only."""

__version__ = "0.1.0"
