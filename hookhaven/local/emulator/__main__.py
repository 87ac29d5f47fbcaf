"""``python -m hookhaven.local.emulator -H 127.0.0.1 -p 4566``: the emulator's server."""

from hookhaven.local.emulator.server import main

main()
