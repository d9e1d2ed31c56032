"""The agent's outbound connections to the cloud: the gRPC gateway and the MQTT broker."""
