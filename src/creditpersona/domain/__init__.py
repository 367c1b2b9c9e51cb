"""Chinese corporate-lending conventions: codes, classifications and thresholds (DOMAIN.md)."""
