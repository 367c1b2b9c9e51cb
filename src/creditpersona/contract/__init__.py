"""The data contract for the bank's raw sources, and its enforcement."""
