"""Device profiles as DATA: one YAML file per vendor plus `profile.schema.json`.

Loaded by `kdfm_agent.profile`; no Python here on purpose (a new model is a YAML file).
"""
