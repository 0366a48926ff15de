"""Import lancedb without executing its REST namespace client's package `__init__` up front.

`import lancedb` imports `lance_namespace`, which re-exports pydantic models from
`lance_namespace_urllib3_client`; that package's `__init__` eagerly imports every generated REST
API module too (≈370 `pydantic.validate_call` wrappers), which measured as the largest single
part of `xmodal search`'s start-up (benchmarks/bench_startup.py). xmodal only opens local tables
and never uses the REST client, so the package is registered unexecuted: its submodules (the
models `lance_namespace` needs) import as usual, and the first access to anything else on the
package itself runs its real `__init__` (so a caller that does use the REST client still works).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_CLIENT = "lance_namespace_urllib3_client"
_lock = threading.Lock()


class _DeferredPackage(ModuleType):
    """The client package with its `__init__` not yet run; any attribute lookup that the
    submodules did not already provide runs it first."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        with _lock:
            spec = self.__spec__
            if getattr(self, "_xmodal_deferred", False) and spec is not None and spec.loader is not None:
                object.__setattr__(self, "_xmodal_deferred", False)
                self.__class__ = ModuleType
                spec.loader.exec_module(self)
        return ModuleType.__getattribute__(self, name)


def import_lancedb() -> ModuleType:
    """`import lancedb`, with the REST client package's `__init__` deferred (see module doc)."""
    if "lancedb" in sys.modules:
        return sys.modules["lancedb"]
    with _lock:
        if _CLIENT not in sys.modules:
            spec = importlib.util.find_spec(_CLIENT)
            if spec is not None and spec.loader is not None and spec.submodule_search_locations is not None:
                pkg = importlib.util.module_from_spec(spec)
                pkg.__class__ = _DeferredPackage
                object.__setattr__(pkg, "_xmodal_deferred", True)
                sys.modules[_CLIENT] = pkg
    import lancedb

    return lancedb
