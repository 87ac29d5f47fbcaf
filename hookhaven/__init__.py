"""hookhaven: a serverless webhook relay for AWS."""

__version__ = "0.1.0"
