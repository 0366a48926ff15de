"""Where a hub model's weights come from: `hf-hub:org/name[@revision]`, `local-dir:/path`, or `org/name`.

Everything ends as a local directory. Hub models are looked up in the local Hugging Face cache
first and downloaded only when the machine is online (HF_HUB_OFFLINE unset); when neither works
the error says how to fetch the weights on a connected machine or point at a local copy.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ...errors import ModelUnavailable

HF_HUB = "hf-hub"
LOCAL_DIR = "local-dir"

# "org/name", or a legacy single-segment name ("gpt2"); Hugging Face repo-id characters only
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


@dataclass(frozen=True)
class ResolvedSource:
    """A model source resolved to a local directory.

    spec: canonical form (`hf-hub:org/name[@rev]` or `local-dir:/abs/path`), what configs record.
    commit: the hub commit the files came from, when known.
    """

    kind: str
    spec: str
    path: Path
    model_id: str
    revision: str | None = None
    commit: str | None = None


def parse_source(spec: str) -> tuple[str, str]:
    """Split a model source into (kind, location).

    `hf-hub:org/name@rev` → ("hf-hub", "org/name@rev"); `local-dir:~/m` → ("local-dir", "/home/u/m");
    a bare `org/name[@rev]` is a hub id; a bare path starting with `/`, `./`, `../` or `~` is a
    local directory. Only parses: existence and download are `resolve_source`'s job.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("empty model source; use 'hf-hub:org/name[@revision]' or 'local-dir:/path'")
    spec = spec.strip()
    if spec.startswith(HF_HUB + ":"):
        kind, location = HF_HUB, spec[len(HF_HUB) + 1 :]
    elif spec.startswith(LOCAL_DIR + ":"):
        kind, location = LOCAL_DIR, spec[len(LOCAL_DIR) + 1 :]
    elif spec.startswith(_PATH_PREFIXES):
        kind, location = LOCAL_DIR, spec
    else:
        kind, location = HF_HUB, spec
    if kind == LOCAL_DIR:
        if not location:
            raise ValueError(f"model source {spec!r}: no path after 'local-dir:'")
        return kind, str(Path(location).expanduser().resolve())
    repo_id, revision = split_revision(location)
    if not _REPO_ID.match(repo_id):
        raise ValueError(
            f"model source {spec!r}: {repo_id!r} is not a Hugging Face repo id "
            "(expected 'hf-hub:org/name[@revision]' or 'local-dir:/path')"
        )
    if revision == "":
        raise ValueError(f"model source {spec!r}: empty revision after '@'")
    return kind, location


def split_revision(location: str) -> tuple[str, str | None]:
    """'org/name@v1.0' → ('org/name', 'v1.0'); 'org/name' → ('org/name', None)."""
    repo_id, sep, revision = location.partition("@")
    return repo_id, (revision if sep else None)


def hub_offline() -> bool:
    """True when downloads are off: HF_HUB_OFFLINE (read now, not at import) or huggingface_hub's own flag."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return True
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def resolve_source(
    spec: str,
    *,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
    required: Sequence[str] | None = None,
) -> ResolvedSource:
    """Turn a model source into a local directory, downloading hub files only when online.

    allow_patterns / ignore_patterns limit what a download fetches (e.g. skip TF/Flax weights).
    required: globs of which one must match in a cached snapshot for it to count (a cache that
    holds only config.json, from an earlier config lookup, is not a model yet).
    Raises ModelUnavailable with the fix when the directory is missing or the model is neither
    cached nor downloadable.
    """
    kind, location = parse_source(spec)
    if kind == LOCAL_DIR:
        path = Path(location)
        if not path.is_dir():
            what = "is a file, not a directory" if path.exists() else "does not exist"
            raise ModelUnavailable(
                f"model directory {path} {what}; 'local-dir:' must name a folder holding the saved "
                "model (config.json and weights, as written by save_pretrained or downloaded from the hub)"
            )
        return ResolvedSource(LOCAL_DIR, f"{LOCAL_DIR}:{path}", path, model_id=str(path))

    repo_id, revision = split_revision(location)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - huggingface_hub comes with transformers
        raise ModelUnavailable(
            f"hub model {repo_id!r} needs huggingface_hub (`pip install xmodal[hub]`), "
            "or give the weights as model='local-dir:/path'"
        ) from e

    kwargs = {
        "repo_id": repo_id,
        "revision": revision,
        "allow_patterns": list(allow_patterns) if allow_patterns else None,
        "ignore_patterns": list(ignore_patterns) if ignore_patterns else None,
    }
    path: str | None = None
    reason = ""
    try:  # the local cache first: no network, and it pins what was fetched before
        path = snapshot_download(local_files_only=True, **kwargs)
    except Exception as e:  # LocalEntryNotFoundError and friends; the message below explains
        reason = f"not in the local Hugging Face cache ({type(e).__name__})"
    if path is not None and required and not any(any(Path(path).glob(g)) for g in required):
        path, reason = None, f"the local Hugging Face cache holds no weights for it (none of {', '.join(required)})"
    if path is None:
        if hub_offline():
            reason += "; downloads are off (HF_HUB_OFFLINE is set)"
        else:
            try:
                path = snapshot_download(local_files_only=False, **kwargs)
            except Exception as e:  # network down, repo missing, gated, bad revision...
                reason += f"; download failed: {type(e).__name__}: {_first_line(e)}"
    if path is None:
        rev = f"@{revision}" if revision else ""
        raise ModelUnavailable(
            f"hub model '{repo_id}{rev}' is unavailable: {reason}. Fetch the weights on a connected "
            f"machine (`hf download {repo_id}`" + (f" --revision {revision}" if revision else "")
            + ") and copy the Hugging Face cache (~/.cache/huggingface) here, or save the model to a "
            "folder and pass model='local-dir:/path/to/folder'"
        )
    p = Path(path)
    commit = p.name if p.parent.name == "snapshots" else None
    spec_out = f"{HF_HUB}:{repo_id}" + (f"@{revision}" if revision else "")
    return ResolvedSource(HF_HUB, spec_out, p, model_id=repo_id, revision=revision, commit=commit)


def weights_fingerprint(path: Path, patterns: Sequence[str] = ("*.json", "*.safetensors", "*.bin")) -> str:
    """Short, copy-stable fingerprint of a model folder: config bytes plus weight-file names and sizes.

    Recorded in an encoder's config so an index notices when a local-dir's weights were swapped.
    Hashing the weights themselves would cost seconds per gigabyte on every start, so sizes stand in.
    """
    h = hashlib.sha256()
    files = sorted({f for pat in patterns for f in path.glob(pat) if f.is_file()})
    for f in files:
        h.update(f.name.encode())
        if f.suffix == ".json" and f.stat().st_size < 1_000_000:
            h.update(f.read_bytes())
        else:
            h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""
