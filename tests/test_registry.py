"""Registries: one name, one implementation of the right interface; temporary registrations undo."""

from __future__ import annotations

import pytest

from xmodal.bind.heads import HEADS, Head
from xmodal.encode import ENCODERS, Encoder
from xmodal.llm import BACKENDS
from xmodal.refine import REFINERS
from xmodal.registry import Registry, RegistryError
from xmodal.rerank import RERANKERS
from xmodal.retrieve import RETRIEVERS, HybridRetriever
from xmodal.store import STORES


class Base:
    pass


class Impl(Base):
    pass


class Other:
    pass


def test_duplicate_name_is_refused_unless_replaced():
    reg: Registry[Base] = Registry("thing", Base)
    reg.register("a", Impl)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a", Impl)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a", "somewhere.else:Impl")
    reg.register("a", Impl, replace=True)
    assert reg.resolve("a") is Impl


def test_wrong_type_is_refused_when_registered_or_first_imported():
    reg: Registry[Base] = Registry("thing", Base)
    with pytest.raises(RegistryError, match="subclass"):
        reg.register("other", Other)
    with pytest.raises(RegistryError, match="subclass"):
        reg.register("fn", lambda: Impl())  # a factory is not an implementation
    reg.register("lazy", f"{__name__}:Other")  # a lazy entry is checked when it is imported
    with pytest.raises(RegistryError, match="subclass"):
        reg.resolve("lazy")
    with pytest.raises(RegistryError, match="module:Class"):
        reg.register("bad-target", "no_colon_here")


def test_registered_restores_what_was_there():
    reg: Registry[Base] = Registry("thing", Base)
    reg.register("a", Impl)

    class Fake(Base):
        pass

    with reg.registered("a", Fake), reg.registered("b", Fake):
        assert reg.resolve("a") is Fake and reg.resolve("b") is Fake
    assert reg.resolve("a") is Impl and "b" not in reg


@pytest.mark.parametrize("registry", [ENCODERS, STORES, RETRIEVERS, RERANKERS, REFINERS, BACKENDS, HEADS])
def test_every_stage_registry_checks_its_interface(registry):
    assert registry.base is not None
    with pytest.raises(RegistryError):
        registry.register("not-an-implementation", Other)
    assert "not-an-implementation" not in registry


def test_builtin_entries_resolve_to_their_interfaces():
    assert RETRIEVERS.resolve("hybrid") is HybridRetriever
    assert all(issubclass(HEADS.resolve(n), Head) for n in HEADS.names())
    assert issubclass(ENCODERS.resolve("minilm-int8"), Encoder)
    assert issubclass(STORES.resolve("lancedb"), STORES.base)
