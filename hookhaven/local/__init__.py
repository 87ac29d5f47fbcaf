"""The local stack: the same resources and handlers as in AWS, on one machine (CLI-only)."""
