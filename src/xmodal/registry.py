"""Name → implementation registries, one per stage.

Built-in implementations are declared as "module:attr" strings and imported only when asked
for, so `import xmodal` stays light; third-party code can register classes directly. A name is
registered once (a second registration is an error unless `replace=True`), and every entry must
be a subclass of the stage's interface, checked when the class is registered or first imported.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(TypeError):
    """A registration that would make a name ambiguous or point at the wrong kind of object."""


class Registry(Generic[T]):
    def __init__(self, kind: str, base: type | None = None):
        self.kind = kind
        self.base = base  # the stage's interface; None accepts any class
        self._entries: dict[str, str | type[T]] = {}

    def register(self, name: str, target: str | type[T] | None = None, *, replace: bool = False) -> Callable[[type[T]], type[T]] | None:
        """`reg.register("name", "pkg.mod:Class")`, or as a class decorator `@reg.register("name")`."""
        if target is not None:
            self._add(name, target, replace)
            return None

        def deco(cls: type[T]) -> type[T]:
            self._add(name, cls, replace)
            return cls

        return deco

    def _add(self, name: str, target: str | type[T], replace: bool) -> None:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind} names are non-empty strings, got {name!r}")
        if name in self._entries and not replace:
            raise RegistryError(f"{self.kind} {name!r} is already registered ({self._describe(self._entries[name])}); "
                                "pick another name or pass replace=True")
        if isinstance(target, str):
            if ":" not in target:
                raise RegistryError(f"{self.kind} {name!r}: lazy targets are 'package.module:Class', got {target!r}")
        else:
            self._check_type(name, target)
        self._entries[name] = target

    def _check_type(self, name: str, target: Any) -> None:
        if not isinstance(target, type) or (self.base is not None and not issubclass(target, self.base)):
            want = f"a subclass of {self.base.__module__}.{self.base.__qualname__}" if self.base else "a class"
            raise RegistryError(f"{self.kind} {name!r} must be {want}, got {target!r}")

    @staticmethod
    def _describe(target: Any) -> str:
        return target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    @contextmanager
    def registered(self, name: str, target: str | type[T]) -> Iterator[None]:
        """Register for the duration of a `with` block (tests, experiments), then restore."""
        before = self._entries.get(name)
        self._add(name, target, replace=True)
        try:
            yield
        finally:
            if before is None:
                self._entries.pop(name, None)
            else:
                self._entries[name] = before

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def resolve(self, name: str) -> type[T]:
        try:
            target = self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            self._check_type(name, target)
            self._entries[name] = target
        return target

    def create(self, name: str, **kwargs: Any) -> T:
        return self.resolve(name)(**kwargs)
