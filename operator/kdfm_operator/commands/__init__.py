"""Sub-commands of kdfm-operator: each module here defines `register(subparsers)`, which adds
its parser and sets `func` (a callable taking the parsed arguments and returning the exit code)."""
