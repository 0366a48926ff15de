"""xmodal.media: content probing, decoding of every supported format, limits and failures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mediagen as mg
from xmodal import media
from xmodal.errors import MediaError, UnsupportedMedia
from xmodal.media import Limits, SUPPORTED
from xmodal.types import Modality


def close(rgb, expected, tol=30) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(rgb, expected))


def median_rgb(im) -> tuple[int, int, int]:
    a = np.asarray(im.convert("RGB")).reshape(-1, 3)
    return tuple(int(v) for v in np.median(a, axis=0))


def dominant_hz(wav: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.fft.rfftfreq(len(wav), 1 / sr)[np.argmax(spec)])


# ------------------------------------------------------------------ images


@pytest.mark.parametrize(
    "ext,fmt,tol",
    [("png", "png", 2), ("jpg", "jpeg", 12), ("webp", "webp", 12), ("gif", "gif", 12),
     ("bmp", "bmp", 2), ("tiff", "tiff", 2)],
)
def test_image_formats_decode_to_rgb(tmp_path, ext, fmt, tol):
    p = mg.make_image(tmp_path / f"a.{ext}", size=(64, 48), color=(200, 30, 30))
    assert media.probe(p) == (Modality.IMAGE, fmt)
    m = media.load(p)
    assert m.modality == Modality.IMAGE and m.path == str(p)
    assert len(m.images) == 1
    im = m.images[0]
    assert im.mode == "RGB" and im.size == (64, 48)
    assert close(median_rgb(im), (200, 30, 30), tol)


def test_animated_gif_gives_first_frame(tmp_path):
    p = mg.make_image(tmp_path / "anim.gif", frames=[(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    m = media.load(p)
    assert len(m.images) == 1
    assert close(median_rgb(m.images[0]), (255, 0, 0), 10)
    assert m.meta["frames"] == 3


def test_svg_is_rendered_at_512px_keeping_aspect(tmp_path):
    p = mg.make_svg(tmp_path / "logo.svg", size=(200, 100), color="#dc1414")
    assert media.probe(p) == (Modality.IMAGE, "svg")
    im = media.load(p).images[0]
    assert im.mode == "RGB" and im.size == (512, 256)
    assert close(median_rgb(im), (220, 20, 20), 3)


@pytest.mark.parametrize("ext", ["png", "gif", "webp"])
def test_transparency_is_flattened_onto_white(tmp_path, ext):
    p = mg.make_image(tmp_path / f"clear.{ext}", color=(255, 0, 0, 0))  # fully transparent red
    im = media.load(p).images[0]
    assert im.mode == "RGB"
    assert close(median_rgb(im), (255, 255, 255), 3)


def test_jpeg_named_png_is_judged_by_content(tmp_path):
    p = mg.make_image(tmp_path / "photo.png", fmt="JPEG", color=(30, 200, 30))
    assert media.probe(p) == (Modality.IMAGE, "jpeg")
    assert close(median_rgb(media.load(p).images[0]), (30, 200, 30), 12)


def test_exif_orientation_is_applied(tmp_path):
    # orientation 6: stored landscape, displayed rotated 90 degrees (portrait)
    p = mg.make_image(tmp_path / "rot.jpg", size=(64, 48), exif_orientation=6)
    assert media.load(p).images[0].size == (48, 64)


def test_large_images_are_downscaled(tmp_path):
    p = mg.make_image(tmp_path / "big.png", size=(300, 150))
    im = media.load(p, Limits(image_max_side=100)).images[0]
    assert im.size == (100, 50)


def test_pixel_bomb_is_rejected_from_the_header(tmp_path):
    p = mg.make_pixel_bomb_png(tmp_path / "bomb.png", 100_000, 100_000)
    assert p.stat().st_size < 200
    t = time.perf_counter()
    with pytest.raises(MediaError) as e:
        media.load(p)
    assert time.perf_counter() - t < 1.0  # 10 gigapixels were never allocated
    assert "Limits.max_pixels" in e.value.reason and str(p) in str(e.value)


def test_max_pixels_limit_is_ours_not_only_pillows(tmp_path):
    p = mg.make_image(tmp_path / "a.png", size=(64, 48))
    with pytest.raises(MediaError, match=r"64x48.*Limits\.max_pixels"):
        media.load(p, Limits(max_pixels=1000))


@pytest.mark.parametrize("ext,label", [("png", "PNG"), ("jpg", "JPEG")])
def test_truncated_images_fail_with_reason(tmp_path, ext, label):
    full = mg.make_image(tmp_path / f"full.{ext}", size=(64, 48))
    p = mg.truncate(full, 0.5, out=tmp_path / f"cut.{ext}")
    with pytest.raises(MediaError) as e:
        media.load(p)
    assert e.value.path == str(p)
    assert e.value.reason.startswith(f"truncated or corrupt image data ({label})")


# ------------------------------------------------------------------ audio


@pytest.mark.parametrize("ext", ["wav", "ogg", "opus", "mp3", "flac", "m4a"])
def test_audio_formats_decode_to_16k_mono(tmp_path, ext):
    p = mg.make_audio(tmp_path / f"tone.{ext}", seconds=1.0, freq=440.0)
    modality, _ = media.probe(p)
    assert modality == Modality.AUDIO
    m = media.load(p)
    assert m.sample_rate == 16000
    assert m.audio.dtype == np.float32 and m.audio.ndim == 1
    assert abs(m.duration - 1.0) < 0.1 and m.duration == pytest.approx(len(m.audio) / 16000)
    assert float(np.abs(m.audio).max()) <= 1.0
    assert 0.3 < float(np.abs(m.audio).max()) < 0.75  # 0.5 amplitude survives (stereo averaged)
    assert abs(dominant_hz(m.audio, 16000) - 440) < 15


def test_sound_only_mp4_is_audio(tmp_path):
    p = mg.make_audio(tmp_path / "voice.mp4", fmt="m4a")
    assert media.probe(p) == (Modality.AUDIO, "m4a")


def test_long_audio_rejected_from_metadata_without_decoding(tmp_path, monkeypatch):
    import xmodal.media.audio as audio_mod

    def no_decoding(*a, **k):
        raise AssertionError("decoded although the container states its duration")

    monkeypatch.setattr(audio_mod, "decode_audio", no_decoding)
    for ext in ("wav", "ogg"):
        p = mg.make_audio(tmp_path / f"long.{ext}", seconds=3.0)
        with pytest.raises(MediaError) as e:
            media.load(p, Limits(max_audio_seconds=1))
        assert "audio is 3 s long, over the 1 s limit (Limits.max_audio_seconds)" == e.value.reason


def test_long_audio_without_duration_metadata_stops_while_decoding(tmp_path, monkeypatch):
    import xmodal.media.audio as audio_mod

    monkeypatch.setattr(audio_mod, "stream_seconds", lambda c, s: None)
    p = mg.make_wav(tmp_path / "long.wav", seconds=3.0)
    with pytest.raises(MediaError, match=r"runs past the 1 s limit \(Limits\.max_audio_seconds\)"):
        media.load(p, Limits(max_audio_seconds=1))


def test_human_seconds_in_limit_messages():
    from xmodal.media.audio import human_seconds

    assert human_seconds(5.2 * 3600) == "5.2 h"
    assert human_seconds(3 * 3600) == "3 h"
    assert human_seconds(90) == "1.5 min"


# ------------------------------------------------------------------ video


@pytest.mark.parametrize(
    "name,codec,fmt",
    [("clip.mp4", "h264", "mp4"), ("clip.webm", "vp8", "webm"), ("clip9.webm", "vp9", "webm"),
     ("clip.avi", "mpeg4", "avi")],
)
def test_video_frames_sampled_at_1fps_with_audio(tmp_path, name, codec, fmt):
    p = mg.make_video(tmp_path / name, seconds=4, fps=10, with_audio=True, codec=codec)
    assert media.probe(p) == (Modality.VIDEO, fmt)
    m = media.load(p)
    assert m.modality == Modality.VIDEO
    assert m.image_times == pytest.approx([0, 1, 2, 3], abs=0.06)
    assert len(m.images) == 4
    for im, t in zip(m.images, m.image_times):
        assert im.mode == "RGB" and im.size == (64, 48)
        assert close(median_rgb(im), mg.color_at(t), 30), (t, median_rgb(im))
    assert m.duration == pytest.approx(4.0, abs=0.15)
    assert m.meta["has_audio"] is True
    assert m.audio is not None and abs(len(m.audio) / 16000 - 4.0) < 0.2
    assert abs(dominant_hz(m.audio, 16000) - 440) < 15
    assert m.meta["fps"] == pytest.approx(10)
    assert (m.meta["width"], m.meta["height"]) == (64, 48)
    # four distinct colours, one per second: four shots
    assert len(m.meta["shots"]) == 4


def test_video_without_audio(tmp_path):
    m = media.load(mg.make_video(tmp_path / "silent.mp4", seconds=2))
    assert m.audio is None and m.meta["has_audio"] is False
    assert len(m.images) == 2


def test_shot_detection_finds_the_cut(tmp_path):
    red, blue = (220, 20, 20), (20, 20, 220)
    p = mg.make_video(tmp_path / "cut.mp4", seconds=4, colors=[red, red, blue, blue])
    shots = media.load(p).meta["shots"]
    assert len(shots) == 2
    assert shots[0][0] == 0 and shots[0][1] == pytest.approx(2, abs=0.06)
    assert shots[1][0] == pytest.approx(2, abs=0.06) and shots[1][1] == pytest.approx(4, abs=0.06)


def test_one_shot_when_there_is_no_cut(tmp_path):
    # the moving square changes every frame, but the picture stays one shot
    p = mg.make_video(tmp_path / "still.webm", seconds=3, colors=[(20, 200, 20)])
    shots = media.load(p).meta["shots"]
    assert shots == [[0.0, pytest.approx(3.0, abs=0.06)]]


def test_long_video_sampled_uniformly_up_to_max_frames(tmp_path):
    p = mg.make_video(tmp_path / "v.mp4", seconds=4, fps=10)
    m = media.load(p, Limits(video_fps=4, max_frames=4))  # 16 candidates > 4: spread out
    assert m.image_times == pytest.approx([0, 1, 2, 3], abs=0.06)


def test_sparse_samples_use_seeking(tmp_path):
    # 12 s, 2 frames: 6 s apart, which takes the seeking path
    p = mg.make_video(tmp_path / "long.mp4", seconds=12, fps=5)
    m = media.load(p, Limits(max_frames=2))
    assert m.image_times == pytest.approx([0, 6], abs=0.11)
    for im, t in zip(m.images, m.image_times):
        assert close(median_rgb(im), mg.color_at(t), 30)


def test_long_video_rejected_from_metadata(tmp_path):
    p = mg.make_video(tmp_path / "v.mp4", seconds=3)
    with pytest.raises(MediaError, match=r"video is 3 s long, over the 2 s limit \(Limits\.max_video_seconds\)"):
        media.load(p, Limits(max_video_seconds=2))


def test_truncated_video_fails_with_reason(tmp_path):
    full = mg.make_video(tmp_path / "v.mp4", seconds=2)
    p = mg.truncate(full, 0.5, out=tmp_path / "cut.mp4")
    with pytest.raises(MediaError, match="corrupt or unreadable mp4"):
        media.load(p)


# ------------------------------------------------------------------ text and documents


def test_plain_text_and_markdown(tmp_path):
    t = mg.make_text(tmp_path / "notes.txt", "first line\nsecond line\n")
    md = mg.make_text(tmp_path / "README.md", "# Title\n\nSome *markdown*.\n")
    assert media.probe(t) == (Modality.TEXT, "txt")
    assert media.probe(md) == (Modality.TEXT, "md")
    assert media.load(t).text == "first line\nsecond line\n"
    assert "Some *markdown*." in media.load(md).text


def test_legacy_encodings_are_detected(tmp_path):
    p = mg.make_text(tmp_path / "menu.txt", "café crème brûlée\n", encoding="latin-1")
    assert media.load(p).text == "café crème brûlée\n"
    p = mg.make_text(tmp_path / "u16.txt", "héllo wörld\n", encoding="utf-16")
    assert media.load(p).text == "héllo wörld\n"


def test_html_visible_text_and_title(tmp_path):
    p = mg.make_html(tmp_path / "page.html", title="My Page", body="<h1>Heading</h1><p>Body text.</p>")
    assert media.probe(p) == (Modality.TEXT, "html")
    m = media.load(p)
    assert m.meta["title"] == "My Page"
    assert "Heading" in m.text and "Body text." in m.text
    assert "hiddenScriptText" not in m.text and "hidden-style-rule" not in m.text


def test_html_is_sniffed_without_extension(tmp_path):
    p = mg.make_html(tmp_path / "page", title="T")
    assert media.probe(p) == (Modality.TEXT, "html")


def test_pdf_pages_text_and_renders(tmp_path):
    texts = ["Alpha page one", "Bravo page two", "Charlie page three"]
    p = mg.make_pdf(tmp_path / "doc.pdf", texts)
    assert media.probe(p) == (Modality.DOCUMENT, "pdf")
    m = media.load(p)
    assert m.pages == 3
    assert m.page_texts == texts
    assert all(t in m.text for t in texts)
    assert len(m.images) == 3
    for im in m.images:
        assert im.mode == "RGB" and max(im.size) == 512
        assert im.height > im.width  # A4 portrait


def test_pdf_render_cap_keeps_all_texts(tmp_path):
    p = mg.make_pdf(tmp_path / "doc.pdf", ["one", "two", "three"])
    m = media.load(p, Limits(max_page_renders=1, page_render_px=100))
    assert len(m.images) == 1 and max(m.images[0].size) == 100
    assert m.page_texts == ["one", "two", "three"]


def test_pdf_page_limit(tmp_path):
    p = mg.make_pdf(tmp_path / "doc.pdf", ["a", "b", "c"])
    with pytest.raises(MediaError, match=r"3 pages, over the 2 page limit \(Limits\.max_pages\)"):
        media.load(p, Limits(max_pages=2))


def test_corrupt_pdf_fails_with_reason(tmp_path):
    p = tmp_path / "broken.pdf"
    p.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    with pytest.raises(MediaError, match="corrupt or unreadable PDF"):
        media.load(p)


# ------------------------------------------------------------------ foreign, empty, broken


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    for fn in (media.probe, media.load):
        with pytest.raises(MediaError) as e:
            fn(p)
        assert e.value.reason == "empty file (0 bytes)" and e.value.path == str(p)


@pytest.mark.parametrize("ext,noun", [("mp3", "audio"), ("mp4", "video"), ("pdf", "a PDF document")])
def test_random_bytes_with_a_media_extension(tmp_path, ext, noun):
    p = mg.make_random(tmp_path / f"noise.{ext}", 4096, seed=1)
    with pytest.raises(UnsupportedMedia) as e:
        media.load(p)
    assert e.value.reason == f"file claims to be .{ext} but its content is not {noun} (unrecognised bytes)"


@pytest.mark.parametrize("maker,desc", [(mg.make_elf, "ELF executable"), (mg.make_zip, "zip archive")])
def test_foreign_content_named_jpg(tmp_path, maker, desc):
    p = maker(tmp_path / "picture.jpg")
    with pytest.raises(UnsupportedMedia, match=f"claims to be .jpg but its content is not an image \\({desc}\\)"):
        media.probe(p)
    q = maker(tmp_path / "program")
    with pytest.raises(UnsupportedMedia, match=f"unsupported content \\({desc}\\)"):
        media.load(q)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        media.load(tmp_path / "nope.png")
    with pytest.raises(MediaError, match="folder"):
        media.load(tmp_path)


def test_load_bytes(tmp_path):
    data = mg.make_image(tmp_path / "q.png", color=(20, 20, 220)).read_bytes()
    m = media.load_bytes(data, "png")
    assert m.modality == Modality.IMAGE and m.path is None
    assert close(median_rgb(m.images[0]), (20, 20, 220), 2)
    with pytest.raises(MediaError) as e:
        media.load_bytes(b"\x01\x02garbage\x00" * 50, ".mp3")
    assert e.value.path == "<bytes.mp3>"


# ------------------------------------------------------------------ files and hashing


def test_iter_files_sorted_skips_hidden(tmp_path):
    for rel in ["b.txt", "a.png", "sub/z.mp3", "sub/c.bin", ".hidden.txt", ".git/config", "sub/.cache/x.txt"]:
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x")
    got = [p.relative_to(tmp_path).as_posix() for p in media.iter_files([tmp_path])]
    assert got == ["a.png", "b.txt", "sub/c.bin", "sub/z.mp3"]
    flat = [p.name for p in media.iter_files([str(tmp_path)], recursive=False)]
    assert flat == ["a.png", "b.txt"]
    # a file named explicitly is taken even if hidden, and each file only once
    both = list(media.iter_files([tmp_path / ".hidden.txt", tmp_path / "b.txt", tmp_path]))
    assert [p.name for p in both] == [".hidden.txt", "b.txt", "a.png", "c.bin", "z.mp3"]
    with pytest.raises(MediaError, match="no such file"):
        list(media.iter_files([tmp_path / "missing"]))


def test_content_hash(tmp_path):
    a = mg.make_text(tmp_path / "a.txt", "same")
    b = mg.make_text(tmp_path / "b.md", "same")
    c = mg.make_text(tmp_path / "c.txt", "different")
    h = media.content_hash(a)
    assert len(h) == 32 and int(h, 16) >= 0
    assert h == media.content_hash(b) != media.content_hash(c)


def test_supported_lists_every_modality():
    assert set(SUPPORTED) == set(Modality)
    assert "pdf" in SUPPORTED[Modality.DOCUMENT] and "opus" in SUPPORTED[Modality.AUDIO]


def test_import_is_light():
    code = (
        "import sys, xmodal.media; "
        "heavy = [m for m in ('av', 'PIL', 'pypdfium2', 'cairosvg', 'bs4', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    src = str(Path(media.__file__).parents[2])
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": src})


def test_svg_with_doctype_entities(tmp_path):
    # Illustrator-style prologue: comment, DOCTYPE with an internal entity subset used in xmlns
    p = tmp_path / "drawing.xml"
    p.write_text(
        '<?xml version="1.0"?>\n<!-- Generator: Adobe Illustrator -->\n'
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd" [\n'
        '  <!ENTITY ns_extend "http://ns.adobe.com/Extensibility/1.0/">\n]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="&ns_extend;" width="10" height="20">'
        '<rect width="10" height="20" fill="#0000ff"/></svg>\n'
    )
    assert media.probe(p) == (Modality.IMAGE, "svg")
    im = media.load(p).images[0]
    assert im.size == (256, 512) and close(median_rgb(im), (0, 0, 255), 3)


def test_svg_nested_entities_are_refused(tmp_path):
    lol = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 9))
    p = tmp_path / "lol.svg"
    p.write_text(
        f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY l0 "lol">{lol}]>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&l8;</text></svg>'
    )
    t = time.perf_counter()
    with pytest.raises(MediaError, match="SVG"):
        media.load(p)
    assert time.perf_counter() - t < 1.0


def test_wav_with_a_codec_ffmpeg_cannot_decode_fails_naming_it(tmp_path):
    # a RIFF/WAVE header whose format tag no FFmpeg decoder knows (real case: lmms samples)
    import struct

    data = b"\x00\x01" * 8000
    fmt = struct.pack("<HHIIHH", 0x7777, 1, 16000, 32000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path = tmp_path / "odd-codec.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(MediaError, match="unsupported audio codec") as err:
        media.load(path)
    assert "odd-codec.wav" in str(err.value)
