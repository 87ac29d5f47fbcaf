"""Patches of moto's core, which every service goes through: its clock and its routing.

Replaces:

- ``moto.core.utils.unix_time`` and ``unix_time_millis``, wherever a moto module
  imported them: ``time.time()`` read directly, not through datetimes;
- ``moto.core.utils.camelcase_to_underscores``, wherever a moto module imported it, and
  ``moto.core.responses.method_names_from_class``: the same, cached;
- ``moto.backends.list_of_moto_modules``: its answer, kept (it listed moto's package
  directory on every request);
- ``moto.moto_server.werkzeug_app.DomainDispatcherApplication.get_backend_for_host``:
  cached per host (it tried hundreds of URL patterns on every request).
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any

from hookhaven.local.emulator.compat import Patches

#: What this module replaces (checked before anything is patched).
REPLACES = (
    "moto.core.utils:unix_time",
    "moto.core.utils:unix_time_millis",
    "moto.core.utils:camelcase_to_underscores",
    "moto.core.utils:method_names_from_class",
    "moto.core.responses:method_names_from_class",
    "moto.backends:list_of_moto_modules",
    "moto.moto_server.werkzeug_app:DomainDispatcherApplication.get_backend_for_host",
    "moto.moto_server.werkzeug_app:create_backend_app",
)


def install(patches: Patches) -> None:
    # Import the models first, so the clock is replaced wherever they imported it.
    import moto.dynamodb.models
    import moto.s3.models
    import moto.sqs.models  # noqa: F401

    _install_clock(patches)
    _install_dispatch(patches)


def _moto_modules() -> list[Any]:
    return [
        module
        for module in list(sys.modules.values())
        if (name := getattr(module, "__name__", "") or "") == "moto" or name.startswith("moto.")
    ]


def _install_clock(patches: Patches) -> None:
    """moto's ``unix_time()`` is ``time.time()`` computed through datetimes; use it directly."""
    from moto.core import utils

    slow_unix_time = utils.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(slow_unix_time(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    slow_millis = utils.unix_time_millis
    for module in _moto_modules():
        if getattr(module, "unix_time", None) is slow_unix_time:
            patches.set(module, "unix_time", unix_time)
        if getattr(module, "unix_time_millis", None) is slow_millis:
            patches.set(module, "unix_time_millis", unix_time_millis)


def _install_dispatch(patches: Patches) -> None:
    """Keep what moto works out anew on every request, with the same answer every time:
    the service a host name maps to, the action methods of a response class, and the
    snake_case name of an action or attribute."""
    from moto import backends
    from moto.core import responses, utils
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    snake_case = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    for module in _moto_modules():
        if getattr(module, "camelcase_to_underscores", None) is utils.camelcase_to_underscores:
            patches.set(module, "camelcase_to_underscores", snake_case)

    patches.set(
        responses, "method_names_from_class", functools.cache(utils.method_names_from_class)
    )

    modules = frozenset(backends.list_of_moto_modules())
    patches.set(backends, "list_of_moto_modules", lambda: modules)

    find_backend = DomainDispatcherApplication.get_backend_for_host
    unknown = object()

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        cache: dict[str | None, Any] = self.__dict__.setdefault("_hookhaven_backends", {})
        backend = cache.get(host, unknown)
        if backend is unknown:
            backend = cache[host] = find_backend(self, host)
        return backend

    patches.set(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)
