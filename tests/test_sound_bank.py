"""The shipped reference sound bank: loads from the package alone, holds the labelled Scratch sounds, both embedders alike."""

from __future__ import annotations

import socket
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
        assert len(bank) == bank.embeddings.shape[0] >= 100
        assert np.isfinite(bank.embeddings).all()
    cfg = SpeechSoundAudioEncoder(sound_embedder=AisfxEmbedder()).config()
    assert f"#sha256:{shipped_bank(AisfxEmbedder.version).content_hash()[:16]}" in cfg["sound_bank"]


def test_shipped_bank_holds_the_labelled_scratch_sounds():
    """The default bank is Scratch's 114 labelled sounds (the 526-sound bank with game-sfx and
    opensfx was measured and not shipped): each named by its path in the library, as
    `xmodal data sound-bank` writes it, so a rebuild reproduces the bank's content hash."""
    bank = shipped_bank(AisfxEmbedder.version)
    assert len(bank) == 114
    assert all(":" not in f and "/" in f for f in bank.files), bank.files[:3]
    assert all(lab and lab == lab.lower() and lab.strip() == lab for lab in bank.labels)
    assert bank.source.startswith("debian:scratch=") and "opensfx" not in bank.source
    assert {"dog", "cat", "bird"} <= {lab.split()[0] for lab in bank.labels}


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
