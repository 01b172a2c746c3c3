"""Multi-step changes with side effects, one module per area (taxonomy, uploads, ...)."""
