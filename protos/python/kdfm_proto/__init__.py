"""Generated code of the kdfm.v1 wire contract (protos/kdfm/v1). Regenerate with `make protos`."""
