"""Name → implementation registries, one per stage.

Built-in implementations are declared as "module:attr" strings and imported only when asked
for, so `import xmodal` stays light; third-party code can register classes directly.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, str | type[T]] = {}

    def register(self, name: str, target: str | type[T] | None = None) -> Callable[[type[T]], type[T]] | None:
        """`reg.register("name", "pkg.mod:Class")`, or as a class decorator `@reg.register("name")`."""
        if target is not None:
            self._entries[name] = target
            return None

        def deco(cls: type[T]) -> type[T]:
            self._entries[name] = cls
            return cls

        return deco

    def names(self) -> list[str]:
        return sorted(self._entries)

    def resolve(self, name: str) -> type[T]:
        try:
            target = self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            self._entries[name] = target
        return target

    def create(self, name: str, **kwargs: Any) -> T:
        return self.resolve(name)(**kwargs)
