"""The layering of the code: runtime stages import only earlier stages, and never the tooling.

Every import counts, including ones inside functions and under TYPE_CHECKING: a lazy import is
still a dependency. The order below is the pipeline (README, "How it works").
"""

from __future__ import annotations

import ast
from pathlib import Path

import xmodal

ROOT = Path(xmodal.__file__).parent

# package -> layer; a module may import its own package and packages of a lower or equal layer
RUNTIME = {
    "types": 0, "errors": 0, "registry": 0, "config": 0, "blas_threads": 0,
    "media": 1,
    "encode": 2,
    "bind": 3,
    "space": 4,
    "store": 5,
    "retrieve": 6,
    "llm": 7,
    "rerank": 8,
    "refine": 9,
    "engine": 10,
}
TOOLING = {"data": 11, "eval": 12, "train": 13, "cli": 14, "serve": 14}
LAYERS = {**RUNTIME, **TOOLING}


def _package(module: str) -> str | None:
    """'xmodal.encode.audio' -> 'encode'; the root package itself -> None (the public façade)."""
    parts = module.split(".")
    if parts[0] != "xmodal" or len(parts) == 1:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, wherever it sits."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # `from xmodal import engine` imports the subpackage, not an attribute of the root
            if _package(target) is None and target == "xmodal":
                out += [(node.lineno, f"xmodal.{a.name}") for a in node.names if a.name in LAYERS]
    return out


def _violations() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        me = _package(_module_name(path))
        if me is None:  # xmodal/__init__.py: the façade that lazily opens the engine
            continue
        assert me in LAYERS or path.parent == ROOT, f"{path}: package {me!r} has no layer; add it to this test"
        mine = LAYERS.get(me, 0)
        for line, target in _imports(path):
            other = _package(target)
            if other is None or other == me:
                continue
            if other not in LAYERS:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} (no layer)")
            elif me in RUNTIME and other in TOOLING:
                bad.append(f"{path.relative_to(ROOT)}:{line}: runtime {me!r} imports tooling {target}")
            elif LAYERS[other] > mine:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {me!r} (layer {mine}) imports later {target} (layer {LAYERS[other]})")
    return bad


def test_no_backward_imports():
    assert _violations() == []


def test_every_runtime_module_is_checked():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= set(LAYERS), f"unlayered: {sorted((packages | modules) - set(LAYERS))}"


def test_the_check_catches_a_lazy_backward_import(tmp_path, monkeypatch):
    """The checker itself: an import hidden in a function is found."""
    fake = tmp_path / "xmodal" / "media"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "bad.py").write_text("def f():\n    from ..engine import Index\n    return Index\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path / "xmodal")
    assert any("imports later xmodal.engine" in v for v in _violations())
