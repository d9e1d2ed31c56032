"""KDFM cloud side: the gRPC gateway the agents dial, storage, MQTT nudges and the dev stack."""

__version__ = "0.1.0"
