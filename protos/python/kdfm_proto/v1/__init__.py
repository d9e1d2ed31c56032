"""kdfm.v1: AgentGateway service and the device reading messages."""
