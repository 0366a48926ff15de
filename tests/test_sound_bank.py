"""The shipped reference sound bank: loads from the package alone, holds every source, both embedders alike."""

from __future__ import annotations

import socket
from collections import Counter

import numpy as np
import pytest

from xmodal.encode.sound_bank import SHIPPED_BANKS, AisfxEmbedder, LogMelStatsEmbedder, SoundBank, shipped_bank


@pytest.fixture
def offline(monkeypatch):
    """No network and no apt: what a user's machine without either looks like."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("PATH", "/nonexistent")  # no apt-get, no dpkg-deb


def test_shipped_banks_load_without_network_or_apt(offline):
    from xmodal.encode.audio import SpeechSoundAudioEncoder

    for version in (AisfxEmbedder.version, LogMelStatsEmbedder.version):
        bank = shipped_bank(version)
        assert len(bank) == bank.embeddings.shape[0] > 400
        assert np.isfinite(bank.embeddings).all()
    cfg = SpeechSoundAudioEncoder(sound_embedder=AisfxEmbedder()).config()
    assert f"#sha256:{shipped_bank(AisfxEmbedder.version).content_hash()[:16]}" in cfg["sound_bank"]


def test_banks_hold_scratch_game_and_opensfx_sounds_with_labels():
    bank = shipped_bank(AisfxEmbedder.version)
    sources = Counter(f.split(":", 1)[0] for f in bank.files)
    assert sources["scratch"] >= 100 and sources["game-sfx"] >= 200 and sources["opensfx"] >= 30, sources
    assert all(lab and lab == lab.lower() and lab.strip() == lab for lab in bank.labels)
    assert "debian:scratch=" in bank.source and "debian:openttd-opensfx=" in bank.source
    per_source_label = Counter((f.split(":", 1)[0], lab) for lab, f in zip(bank.labels, bank.files)
                               if not f.startswith("scratch:"))
    assert max(per_source_label.values()) <= 3  # BANK_MAX_PER_LABEL: no label floods the bridge


def test_aisfx_and_logmel_banks_hold_the_same_sounds_in_the_same_order():
    a, b = shipped_bank(AisfxEmbedder.version), shipped_bank(LogMelStatsEmbedder.version)
    assert a.labels == b.labels and a.files == b.files and a.source == b.source
    assert a.embeddings.shape[1] == AisfxEmbedder.dim and b.embeddings.shape[1] == LogMelStatsEmbedder.dim
    assert a.content_hash() != b.content_hash()


def test_encoder_takes_a_bank_file(tmp_path):
    from xmodal.encode.audio import SpeechSoundAudioEncoder

    bank = shipped_bank(AisfxEmbedder.version)
    small = SoundBank(bank.embeddings[:20], bank.labels[:20], bank.categories[:20], bank.files[:20],
                      bank.embedder_version, "custom")
    path = small.save(tmp_path / "bank.npz")
    by_file = SpeechSoundAudioEncoder(sound_bank=str(path), sound_embedder=AisfxEmbedder()).config()
    by_object = SpeechSoundAudioEncoder(sound_bank=small, sound_embedder=AisfxEmbedder()).config()
    assert by_file == by_object and "(20 sounds)" in by_file["sound_bank"]
    with pytest.raises(ValueError, match="bank .npz"):
        SpeechSoundAudioEncoder(sound_bank=str(tmp_path / "missing.npz"), sound_embedder=AisfxEmbedder()).config()


def test_only_the_two_embedder_banks_ship():
    assert sorted(p.name for p in SHIPPED_BANKS.glob("*.npz")) == sorted(
        f"{v}.npz" for v in (AisfxEmbedder.version, LogMelStatsEmbedder.version))
