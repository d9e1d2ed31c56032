"""Pure reconcile plans: (spec, observed, clock) -> plan. No I/O here, and no client imports."""
