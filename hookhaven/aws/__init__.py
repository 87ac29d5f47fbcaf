"""AWS adapters for the ports in ``hookhaven.ports``. Each takes its boto3 client injected."""
