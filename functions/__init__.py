"""Lambda entry points. Each module stays thin: the rules live in ``hookhaven``."""
