"""The small constructs the hookhaven stack is composed of."""
