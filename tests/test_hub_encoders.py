"""Hub-model loaders (CLIP, SigLIP, CLAP via transformers; OpenCLIP) on tiny random checkpoints.

No real weights exist offline, so each test builds a tiny randomly initialised model plus its
processor, saves it like a hub repo, and loads it back through the encoder registry. Comparing
with the in-memory model proves the loader really runs the saved weights.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere: never touch the network

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from xmodal.encode import ENCODERS  # noqa: E402
from xmodal.encode.hub.hf_clap import resample, split_windows  # noqa: E402
from xmodal.encode.hub.source import parse_source, resolve_source  # noqa: E402
from xmodal.errors import MediaError, ModelUnavailable  # noqa: E402
from xmodal.types import Media, Modality  # noqa: E402

CORPUS = ["a cat on a mat", "a dog in the park", "the sound of rain", "a photo of a red car"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory):
    """Offline, with an empty Hugging Face cache, so no test can download or see a real model."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf-cache")))


def _features(out):
    # transformers 5 returns a model output whose pooler_output is the projected feature; 4.x a tensor
    return getattr(out, "pooler_output", out)


def _norm(x) -> np.ndarray:
    x = x.detach().float().numpy() if hasattr(x, "detach") else np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _byte_bpe_vocab(specials: list[str], suffix: str, merges: list[tuple[str, str]]) -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {s: i for i, s in enumerate(specials)}
    chars = list(bytes_to_unicode().values())
    for c in chars:
        vocab.setdefault(c, len(vocab))
    if suffix:
        for c in chars:
            vocab.setdefault(c + suffix, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab


def _picture(w: int = 60, h: int = 40, seed: int = 0) -> Image.Image:
    return Image.fromarray((np.random.RandomState(seed).rand(h, w, 3) * 255).astype("uint8"))


# --- tiny checkpoints -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]
    vocab = _byte_bpe_vocab(["<|startoftext|>", "<|endoftext|>"], "</w>", merges)
    tok = CLIPTokenizer(vocab=vocab, merges=merges)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=24,
    )
    torch.manual_seed(0)
    model = CLIPModel(cfg).eval()
    proc = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok,
    )
    path = tmp_path_factory.mktemp("tiny-clip")
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path, model, proc


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipModel, SiglipProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tk = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    tk.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    cfg = SiglipConfig(
        text_config=dict(vocab_size=tk.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=12, pad_token_id=0, bos_token_id=1,
                         eos_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
    )
    torch.manual_seed(1)
    model = SiglipModel(cfg).eval()
    proc = SiglipProcessor(image_processor=SiglipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tok)
    path = tmp_path_factory.mktemp("tiny-siglip")
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path, model, proc


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    merges = [("Ġ", "c"), ("Ġc", "a"), ("Ġca", "t"), ("Ġ", "r"), ("Ġr", "ain")]
    vocab = _byte_bpe_vocab(["<s>", "<pad>", "</s>", "<unk>"], "", [("a", "i"), ("ai", "n"), *merges])
    tok = RobertaTokenizer(vocab=vocab, merges=[("a", "i"), ("ai", "n"), *merges])
    # 48 kHz and 10 s windows as the real CLAP; a coarse hop keeps the spectrogram tiny
    fe = ClapFeatureExtractor(feature_size=16, sampling_rate=48000, hop_length=4800, fft_window_size=1024,
                              max_length_s=10, truncation="rand_trunc", padding="repeatpad")
    cfg = ClapConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=40, projection_dim=16),
        audio_config=dict(spec_size=64, window_size=4, num_mel_bins=16, patch_stride=(4, 4), patch_size=4,
                          hidden_size=32, depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16,
                          projection_dim=16, enable_fusion=False),
        projection_dim=16,
    )
    torch.manual_seed(2)
    model = ClapModel(cfg).eval()
    proc = ClapProcessor(feature_extractor=fe, tokenizer=tok)
    path = tmp_path_factory.mktemp("tiny-clap")
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path, model, proc


@pytest.fixture(scope="module")
def clip_encoder(tiny_clip):
    return ENCODERS.create("hf-clip", model=f"local-dir:{tiny_clip[0]}", device="cpu")


@pytest.fixture(scope="module")
def siglip_encoder(tiny_siglip):
    return ENCODERS.create("hf-siglip", model=f"local-dir:{tiny_siglip[0]}", device="cpu")


@pytest.fixture(scope="module")
def clap_encoder(tiny_clap):
    return ENCODERS.create("hf-clap", model=f"local-dir:{tiny_clap[0]}", device="cpu")


def _check_embedding(emb, dim: int) -> None:
    assert emb.vector.shape == (dim,)
    assert emb.vector.dtype == np.float32
    assert np.isclose(np.linalg.norm(emb.vector), 1.0, atol=1e-5)
    assert emb.tokens.shape == (len(emb.segments), dim)
    if len(emb.segments):
        assert np.allclose(np.linalg.norm(emb.tokens, axis=1), 1.0, atol=1e-5)
    assert [s.index for s in emb.segments] == list(range(len(emb.segments)))


# --- CLIP ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_clip_text_and_image_share_one_space(clip_encoder):
    text, image = clip_encoder.encode([Media(Modality.TEXT, text="a cat"), Media(Modality.IMAGE, images=[_picture()])])
    assert clip_encoder.dim == 24
    _check_embedding(text, 24)
    _check_embedding(image, 24)
    assert [s.kind for s in text.segments] == ["token", "token"]
    assert [s.text for s in text.segments] == ["a", "cat"]  # BOS/EOS/padding are not word tokens
    assert text.text == "a cat"
    assert len(image.segments) == 16 and {s.kind for s in image.segments} == {"region"}


@pytest.mark.slow
def test_clip_region_boxes_cover_the_centre_crop(clip_encoder):
    (emb,) = clip_encoder.encode([Media(Modality.IMAGE, images=[_picture(60, 40)])])
    boxes = np.array([s.box for s in emb.segments])
    assert ((boxes >= 0) & (boxes <= 1)).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    # the processor resizes the short side to 32 and crops the middle 32x32 of a 48x32 picture
    assert np.isclose(boxes[:, 0].min(), 1 / 6) and np.isclose(boxes[:, 2].max(), 5 / 6)
    assert np.isclose(boxes[:, 1].min(), 0.0) and np.isclose(boxes[:, 3].max(), 1.0)
    assert emb.segments[0].box[:2] == pytest.approx((1 / 6, 0.0))  # row-major: first patch top-left


@pytest.mark.slow
def test_clip_vectors_equal_the_saved_model(clip_encoder, tiny_clip):
    _, model, proc = tiny_clip
    texts = ["a cat", "a dog and a cat"]
    img = _picture(seed=3)
    got = clip_encoder.encode([Media(Modality.TEXT, text=t) for t in texts] + [Media(Modality.IMAGE, images=[img])])
    with torch.no_grad():
        t = proc.tokenizer(texts, padding=True, return_tensors="pt")
        want_text = _norm(_features(model.get_text_features(**t)))
        pix = proc.image_processor(images=[img], return_tensors="pt")["pixel_values"]
        want_img = _norm(_features(model.get_image_features(pixel_values=pix)))
    assert np.allclose(np.stack([g.vector for g in got[:2]]), want_text, atol=1e-5)
    assert np.allclose(got[2].vector, want_img[0], atol=1e-5)


@pytest.mark.slow
def test_clip_batches_keep_order_and_values(tiny_clip):
    path = tiny_clip[0]
    media = [Media(Modality.TEXT, text=t) for t in CORPUS] + [Media(Modality.IMAGE, images=[_picture(seed=s)]) for s in range(3)]
    media = media[::2] + media[1::2]  # interleave modalities
    small = ENCODERS.create("hf-clip", model=f"local-dir:{path}", device="cpu", batch_size=2).encode(media)
    big = ENCODERS.create("hf-clip", model=f"local-dir:{path}", device="cpu", batch_size=32).encode(media)
    for a, b in zip(small, big):
        assert np.allclose(a.vector, b.vector, atol=1e-5)
        assert np.allclose(a.tokens, b.tokens, atol=1e-5)
    again = ENCODERS.create("hf-clip", model=f"local-dir:{path}", device="cpu", batch_size=2).encode(media)
    assert all(np.array_equal(a.vector, b.vector) for a, b in zip(small, again))


@pytest.mark.slow
def test_clip_rejects_audio_and_empty_images(clip_encoder):
    with pytest.raises(MediaError, match="song.wav"):
        clip_encoder.encode([Media(Modality.AUDIO, path="song.wav", audio=np.zeros(16000, np.float32))])
    with pytest.raises(MediaError, match="pic.png"):
        clip_encoder.encode([Media(Modality.IMAGE, path="pic.png")])


@pytest.mark.slow
def test_clip_config_records_model_and_weights(clip_encoder, tiny_clip):
    cfg = clip_encoder.config()
    assert cfg["encoder"] == "HFCLIPEncoder" and cfg["dim"] == 24
    assert cfg["model"] == f"local-dir:{Path(tiny_clip[0]).resolve()}"
    assert isinstance(cfg["weights"], str) and cfg["weights"]
    json.dumps(cfg)  # stored in the index's metadata


# --- SigLIP -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_siglip_vectors_equal_the_saved_model(siglip_encoder, tiny_siglip):
    _, model, proc = tiny_siglip
    texts = ["a cat on a mat", "the sound of rain"]
    img = _picture(50, 50, seed=4)
    got = siglip_encoder.encode([Media(Modality.TEXT, text=t) for t in texts] + [Media(Modality.IMAGE, images=[img])])
    for g in got:
        _check_embedding(g, siglip_encoder.dim)
    with torch.no_grad():
        ids = proc.tokenizer(texts, padding="max_length", max_length=12, return_tensors="pt")["input_ids"]
        want_text = _norm(_features(model.get_text_features(input_ids=ids)))
        pix = proc.image_processor(images=[img], return_tensors="pt")["pixel_values"]
        want_img = _norm(_features(model.get_image_features(pixel_values=pix)))
    assert np.allclose(np.stack([g.vector for g in got[:2]]), want_text, atol=1e-5)
    assert np.allclose(got[2].vector, want_img[0], atol=1e-5)
    assert [s.text for s in got[0].segments] == ["a", "cat", "on", "a", "mat"]


@pytest.mark.slow
def test_siglip_patches_cover_the_whole_picture(siglip_encoder, tiny_siglip):
    (emb,) = siglip_encoder.encode([Media(Modality.IMAGE, images=[_picture(60, 40)])])
    boxes = np.array([s.box for s in emb.segments])
    assert len(boxes) == 16
    # SigLIP squashes the picture to a square: the 4x4 grid spans all of it
    assert boxes[:, :2].min() == 0.0 and boxes[:, 2:].max() == 1.0
    assert np.allclose(boxes[5], (0.25, 0.25, 0.5, 0.5))


@pytest.mark.slow
def test_siglip_patch_tokens_are_the_head_applied_to_each_patch(siglip_encoder, tiny_siglip):
    _, model, proc = tiny_siglip
    img = _picture(seed=5)
    (emb,) = siglip_encoder.encode([Media(Modality.IMAGE, images=[img])])
    with torch.no_grad():
        pix = proc.image_processor(images=[img], return_tensors="pt")["pixel_values"]
        h = model.vision_model(pixel_values=pix).last_hidden_state
        one = model.vision_model.head(h[:, 7:8])  # the head's pooled output if patch 7 were the whole image
    assert np.allclose(emb.tokens[7], _norm(one)[0], atol=1e-5)


# --- CLAP ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_clap_long_audio_is_embedded_in_windows(clap_encoder):
    wav = (np.random.RandomState(0).randn(16000 * 25) * 0.1).astype(np.float32)
    (emb,) = clap_encoder.encode([Media(Modality.AUDIO, audio=wav, sample_rate=16000, duration=25.0)])
    _check_embedding(emb, clap_encoder.dim)
    assert [(s.kind, s.start, s.end) for s in emb.segments] == [
        ("window", 0.0, 10.0), ("window", 10.0, 20.0), ("window", 20.0, 25.0),
    ]
    weights = np.array([10.0, 10.0, 5.0])[:, None]
    mean = (emb.tokens * weights).sum(axis=0)
    assert np.allclose(emb.vector, mean / np.linalg.norm(mean), atol=1e-5)
    # each window is embedded on its own: the last equals the last 5 s given alone (48 kHz input,
    # so no resampling edge effects differ between the two)
    wav48 = (np.random.RandomState(1).randn(48000 * 25) * 0.1).astype(np.float32)
    (whole,) = clap_encoder.encode([Media(Modality.AUDIO, audio=wav48, sample_rate=48000)])
    (tail,) = clap_encoder.encode([Media(Modality.AUDIO, audio=wav48[48000 * 20 :], sample_rate=48000)])
    assert np.allclose(tail.vector, whole.tokens[2], atol=1e-5)


@pytest.mark.slow
def test_clap_vectors_equal_the_saved_model(clap_encoder, tiny_clap):
    _, model, proc = tiny_clap
    wav = (np.random.RandomState(1).randn(48000 * 3) * 0.1).astype(np.float32)
    audio, text = clap_encoder.encode([Media(Modality.AUDIO, audio=wav, sample_rate=48000), Media(Modality.TEXT, text="a cat")])
    assert audio.vector.shape == text.vector.shape == (16,)
    assert [s.text for s in text.segments] == ["a", "cat"]
    with torch.no_grad():
        f = proc.feature_extractor([wav], sampling_rate=48000, return_tensors="pt")
        want_audio = _norm(_features(model.get_audio_features(input_features=f["input_features"], is_longer=f["is_longer"])))
        t = proc.tokenizer(["a cat"], return_tensors="pt")
        want_text = _norm(_features(model.get_text_features(**t)))
    assert np.allclose(audio.vector, want_audio[0], atol=1e-5)
    assert np.allclose(text.vector, want_text[0], atol=1e-5)


@pytest.mark.slow
def test_clap_resamples_16k_input(clap_encoder):
    t16, t48 = np.arange(16000 * 4) / 16000, np.arange(48000 * 4) / 48000
    tone16 = (0.3 * np.sin(2 * np.pi * 440 * t16)).astype(np.float32)
    tone48 = (0.3 * np.sin(2 * np.pi * 440 * t48)).astype(np.float32)
    a, b = clap_encoder.encode([Media(Modality.AUDIO, audio=tone16, sample_rate=16000),
                                Media(Modality.AUDIO, audio=tone48, sample_rate=48000)])
    assert float(a.vector @ b.vector) > 0.99
    assert a.segments[0].end == pytest.approx(4.0)


@pytest.mark.slow
def test_clap_rejects_images_and_missing_audio(clap_encoder):
    with pytest.raises(MediaError, match="x.png"):
        clap_encoder.encode([Media(Modality.IMAGE, path="x.png", images=[_picture()])])
    with pytest.raises(MediaError, match="empty.wav"):
        clap_encoder.encode([Media(Modality.AUDIO, path="empty.wav")])


def test_split_windows_and_resample():
    assert split_windows(250, 100) == [(0, 100), (100, 200), (200, 250)]
    assert split_windows(80, 100) == [(0, 80)]
    # a sliver of a tail becomes a full window ending with the audio
    assert split_windows(205, 100, min_tail=10) == [(0, 100), (100, 200), (105, 205)]
    assert resample(np.ones(16000, np.float32), 16000, 48000).shape == (48000,)


# --- sources and errors -------------------------------------------------------------------------
def test_parse_source_forms(tmp_path):
    assert parse_source("hf-hub:openai/clip-vit-base-patch32") == ("hf-hub", "openai/clip-vit-base-patch32")
    assert parse_source("laion/clap-htsat-unfused@main") == ("hf-hub", "laion/clap-htsat-unfused@main")
    assert parse_source(f"local-dir:{tmp_path}") == ("local-dir", str(tmp_path.resolve()))
    assert parse_source("~/models/x")[0] == "local-dir"
    for bad in ["", "hf-hub:", "hf-hub:org/name@", "hf-hub:not a repo", "local-dir:"]:
        with pytest.raises(ValueError):
            parse_source(bad)


def test_unknown_hub_model_offline_says_how_to_get_it():
    with pytest.raises(ModelUnavailable) as err:
        ENCODERS.create("hf-clip", model="hf-hub:nobody-xyz/no-such-clip")
    msg = str(err.value)
    assert "nobody-xyz/no-such-clip" in msg and "local-dir:" in msg and "connected machine" in msg


def test_missing_local_dir_is_a_clear_error(tmp_path):
    missing = tmp_path / "not-here"
    with pytest.raises(ModelUnavailable, match="does not exist") as err:
        ENCODERS.create("hf-clap", model=f"local-dir:{missing}")
    assert str(missing) in str(err.value)


@pytest.mark.slow
def test_wrong_model_family_is_named(tiny_clip):
    with pytest.raises(ModelUnavailable, match="'clip' model"):
        ENCODERS.create("hf-siglip", model=f"local-dir:{tiny_clip[0]}", device="cpu")


@pytest.mark.slow
def test_hub_model_loads_offline_from_the_cache(tiny_clip, monkeypatch, tmp_path):
    """A model fetched earlier on a connected machine (HF cache layout) loads with downloads off."""
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--tiny-org--tiny-clip"
    shutil.copytree(tiny_clip[0], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    src = resolve_source("hf-hub:tiny-org/tiny-clip")
    assert src.commit == commit and src.path.name == commit
    enc = ENCODERS.create("hf-clip", model="tiny-org/tiny-clip", device="cpu")
    assert enc.config()["model"] == "hf-hub:tiny-org/tiny-clip" and enc.config()["commit"] == commit
    local = ENCODERS.create("hf-clip", model=f"local-dir:{tiny_clip[0]}", device="cpu")
    m = [Media(Modality.TEXT, text="a cat")]
    assert np.array_equal(enc.encode(m)[0].vector, local.encode(m)[0].vector)


@pytest.mark.slow
def test_cached_config_without_weights_is_not_a_model(tiny_clip, monkeypatch, tmp_path):
    from huggingface_hub import constants

    commit = "89abcdef0123456789abcdef0123456789abcdef"
    snap = tmp_path / "models--tiny-org--half-clip" / "snapshots" / commit
    snap.mkdir(parents=True)
    shutil.copy(Path(tiny_clip[0]) / "config.json", snap / "config.json")
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelUnavailable, match="no weights"):
        ENCODERS.create("hf-clip", model="hf-hub:tiny-org/half-clip", device="cpu")


def test_availability_reports_missing_libraries(monkeypatch):
    import importlib.util

    cls = ENCODERS.resolve("hf-clip")
    assert cls.availability() == (True, "")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "transformers" else real(n, *a))
    ok, hint = cls.availability()
    assert not ok and "transformers" in hint and "pip install" in hint


# --- OpenCLIP -----------------------------------------------------------------------------------
def test_open_clip_missing_library_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # makes `import open_clip` fail
    cls = ENCODERS.resolve("open-clip")
    with pytest.raises(ModelUnavailable, match=r"pip install xmodal\[openclip\]"):
        cls(model="hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")


def test_open_clip_local_dir_matches_the_saved_model(tmp_path):
    open_clip = pytest.importorskip("open_clip")  # needs torchvision matching torch; absent here
    from safetensors.torch import save_file

    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    torch.manual_seed(3)
    model = open_clip.CLIP(**model_cfg).eval()
    save_file(model.state_dict(), str(tmp_path / "open_clip_model.safetensors"))

    enc = ENCODERS.create("open-clip", model=f"local-dir:{tmp_path}", device="cpu")
    img = _picture(60, 40, seed=6)
    text, image = enc.encode([Media(Modality.TEXT, text="a photo of a cat"), Media(Modality.IMAGE, images=[img])])
    _check_embedding(text, 16)
    _check_embedding(image, 16)
    assert [s.text for s in text.segments] == ["a", "photo", "of", "a", "cat"]
    assert len(image.segments) == 16
    tok = open_clip.get_tokenizer(f"local-dir:{tmp_path}")
    with torch.no_grad():
        want_text = model.encode_text(tok(["a photo of a cat"]), normalize=True)[0].numpy()
        want_img = model.encode_image(enc.preprocess(img)[None], normalize=True)[0].numpy()
    assert np.allclose(text.vector, want_text, atol=1e-5)
    assert np.allclose(image.vector, want_img, atol=1e-5)
    with pytest.raises(ModelUnavailable, match="no OpenCLIP weights"):
        (tmp_path / "open_clip_model.safetensors").unlink()
        ENCODERS.create("open-clip", model=f"local-dir:{tmp_path}", device="cpu")
