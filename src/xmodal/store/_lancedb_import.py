"""Import lancedb without two costs that `xmodal search`'s start-up does not need
(benchmarks/bench_startup.py measured them as its largest parts):

* The REST namespace client. `import lancedb` imports `lance_namespace`, which re-exports
  pydantic models from `lance_namespace_urllib3_client`; that package's `__init__` eagerly
  imports every generated REST API module too (≈370 `pydantic.validate_call` wrappers). xmodal
  only opens local tables, so the package is registered unexecuted: its submodules (the models
  `lance_namespace` needs) import as usual, and the first access to anything else on the
  package itself runs its real `__init__` (a caller that does use the REST client still works).
* Override checking. On Python < 3.12 lancedb decorates ~100 methods with the `overrides`
  package, which disassembles each class's bytecode at import to validate them; on 3.12+ it uses
  `typing.override`, a marker, and a plain base class. While lancedb's modules load, `overrides`
  resolves to exactly that 3.12 behaviour; the real package is put back right after.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_CLIENT = "lance_namespace_urllib3_client"
_lock = threading.RLock()  # re-entered when a module lancedb imports touches the deferred package


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


_imported: ModuleType | None = None  # set once the import has finished


def import_lancedb() -> ModuleType:
    """`import lancedb`, without the REST client package's `__init__` and override checking (see module doc)."""
    global _imported
    if _imported is not None:  # not `"lancedb" in sys.modules`: it is there, half-initialised,
        return _imported  # while another thread is still importing it
    with _lock:
        if _imported is not None:
            return _imported
        if "lancedb" in sys.modules:  # imported by someone else (Python's import lock waits for it)
            import lancedb

            _imported = lancedb
            return lancedb
        if _CLIENT not in sys.modules:
            spec = importlib.util.find_spec(_CLIENT)
            if spec is not None and spec.loader is not None and spec.submodule_search_locations is not None:
                pkg = importlib.util.module_from_spec(spec)
                pkg.__class__ = _DeferredPackage
                object.__setattr__(pkg, "_xmodal_deferred", True)
                sys.modules[_CLIENT] = pkg
        real_overrides = sys.modules.get("overrides")
        if sys.version_info < (3, 12) and real_overrides is None:
            sys.modules["overrides"] = _typing_override_shim()
        try:
            import lancedb
        finally:
            if sys.modules.get("overrides") is not real_overrides:
                if real_overrides is None:
                    del sys.modules["overrides"]
                else:
                    sys.modules["overrides"] = real_overrides
        _imported = lancedb
    return lancedb


def _typing_override_shim() -> ModuleType:
    """What lancedb itself uses on Python 3.12+: `typing.override` (sets `__override__`) and an
    empty `EnforceOverrides` base."""
    shim = ModuleType("overrides")

    def override(method: Any) -> Any:
        try:
            method.__override__ = True
        except (AttributeError, TypeError):
            pass
        return method

    class EnforceOverrides:
        pass

    shim.override = override  # type: ignore[attr-defined]
    shim.overrides = override  # type: ignore[attr-defined]
    shim.EnforceOverrides = EnforceOverrides  # type: ignore[attr-defined]
    return shim
