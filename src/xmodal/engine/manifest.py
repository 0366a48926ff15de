"""The index manifest: what built an index (profile, encoder configs, binding) and the policy that
an index is only ever opened with exactly those — never a silent mix of vector spaces."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from xmodal import __version__
from xmodal.bind import default_binding_path
from xmodal.errors import IndexMismatchError
from xmodal.space import Space


def build_manifest(space: Space) -> dict[str, Any]:
    """The manifest a new index records for `space`."""
    spec = {str(m): e for m, e in space.spec.items()}
    manifest: dict[str, Any] = {
        "xmodal_version": __version__,
        "profile_spec": {"name": space.name, **spec},
        "fingerprint": space.fingerprint(),
        "created": time.time(),
    }
    if space.binding is not None:
        manifest["binding"] = {"path": binding_ref(space), "fingerprint": space.binding.fingerprint()}
    return manifest


def binding_ref(space: Space) -> str | None:
    """How the manifest names the binding: 'default' for the shipped one (survives reinstalls)."""
    path = space.binding.path if space.binding is not None else None
    if not path:
        return None
    path = Path(path).resolve()
    return "default" if path == Path(default_binding_path()).resolve() else str(path)


def space_for(manifest: dict[str, Any] | None, profile: Any, binding: Any, where: str = "this index") -> Space:
    """The space to open an index with: a new index gets `profile` (default: 'default'); an existing
    one re-creates what its manifest records (the same binding, or none) unless told otherwise,
    and anything that does not reproduce its vectors is refused."""
    if manifest is None:
        return Space(profile or "default", binding=binding)
    if binding is None:
        binding = (manifest.get("binding") or {}).get("path") or "none"
    space = Space(profile if profile is not None else manifest["profile_spec"], binding=binding)
    check_compatible(manifest, space, reopening=profile is None, where=where)
    return space


def check_compatible(manifest: dict[str, Any], space: Space, reopening: bool, where: str = "this index") -> None:
    """Raise IndexMismatchError (saying what differs and what to do) unless `space` reproduces the
    vectors of the index `manifest` describes."""
    have, want = manifest["fingerprint"], space.fingerprint()
    if have.get("binding") != want.get("binding"):
        built = (have.get("binding") or {}).get("name")
        asked = (want.get("binding") or {}).get("name")
        if built and built == asked:  # same binding name, other weights: e.g. an upgraded default
            raise IndexMismatchError(
                f"{where} was built with another version of binding {built!r} (its weights "
                f"{have['binding'].get('weights_sha256', '?')[:12]} are not the installed "
                f"{want['binding'].get('weights_sha256', '?')[:12]}), so its vectors no longer match new queries. "
                "Re-index into a new folder (or delete this one and index again), or install the xmodal that built it."
            )
        raise IndexMismatchError(
            f"{where} was built {f'with binding {built!r}' if built else 'without a binding'}; opening it "
            f"{f'with binding {asked!r}' if asked else 'without one'} would mix vector spaces. "
            f"{'Open it without --binding to reuse its own' if built else 'Drop --binding'}, or index into a new folder."
        )
    if have != want:
        diffs = [k for k in sorted(set(have["encoders"]) | set(want["encoders"])) if have["encoders"].get(k) != want["encoders"].get(k)]
        built = ", ".join(f"{k}: {have['encoders'].get(k)}" for k in diffs) or f"dim {have['dim']}"
        if reopening:
            hint = ("the encoders installed here no longer produce the vectors it holds (their settings, "
                    "weights or xmodal's defaults changed); re-index into a new folder, or install the versions above")
        else:
            hint = f"opening it with profile {want['profile']!r} would mix vector spaces; open it without a profile to reuse its encoders, or index into a new folder"
        raise IndexMismatchError(f"{where} was built with profile {have['profile']!r} ({built}); {hint}.")
