"""Risk models: default target, PD estimators, master scale, validation, registry."""
