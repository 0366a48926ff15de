"""Every decode outside indexing is contained too: a server's thumbnails, the OCR/ASR evidence of
`xmodal ask`, an image encoder given only a path, an evaluation report's pictures. Each runs in a
decode worker under the per-file budgets, so a file that changed since it was indexed into one
that crashes or hangs a decoder costs one request, never the server or the run.

The tests make decoding in this process impossible (every decoder entry point raises here) and
check that the work is still done: only a worker process can have done it.
"""

from __future__ import annotations

import io
import sys
import textwrap

import pytest

from mediagen import make_audio, make_image, make_pdf, make_video
from xmodal.errors import MediaError
from xmodal.media import Limits
from xmodal.media.pool import DecodePool
from xmodal.types import Modality, SearchResult

JPEG = b"\xff\xd8\xff"


@pytest.fixture
def no_decoding_here(monkeypatch):
    """Call it once the test's files are made: from then on any decode in this process fails the
    test (workers are fresh processes, unaffected)."""
    import av
    import pypdfium2
    from PIL import Image

    import xmodal.media.loader as loader

    def refuse(*_a, **_k):
        raise AssertionError("a file was decoded in the calling process")

    def forbid():
        for owner, name in ((loader, "load"), (av, "open"), (pypdfium2, "PdfDocument"), (Image, "open")):
            monkeypatch.setattr(owner, name, refuse)
        return monkeypatch

    return forbid


CRASHY = textwrap.dedent(
    """
    # a decode worker whose decoders misbehave on cue (by file name): segfault or hang
    import os, signal, sys, time
    import av, PIL.Image, pypdfium2  # imported before the worker says ready: the budget times decoding only
    import xmodal.media.loader as loader
    import xmodal.media.thumbnail as thumbnail

    def on_cue(real):
        def run(path, *a, **k):
            name = os.path.basename(str(path))
            if "segfault" in name:
                os.kill(os.getpid(), signal.SIGSEGV)
            if "hang" in name:
                time.sleep(3600)
            return real(path, *a, **k)
        return run

    loader.load = on_cue(loader.load)
    thumbnail.render = on_cue(thumbnail.render)
    from xmodal.media.worker import main
    main(sys.argv[1:])
    """
)


@pytest.fixture
def crashy_pool(tmp_path):
    f = tmp_path / "crashy_worker.py"
    f.write_text(CRASHY)
    with DecodePool(Limits(max_decode_seconds=3.0), workers=1, worker_argv=[sys.executable, str(f)]) as pool:
        yield pool


def _record(path, modality, **kw):
    return {"id": path.name, "path": str(path), "modality": modality, "content_hash": "c0ffee", **kw}


def test_thumbnails_render_in_a_decode_worker(tmp_path, no_decoding_here):
    from xmodal.serve.thumbnails import ThumbnailCache

    media = tmp_path / "media"
    red = make_image(media / "red.png", size=(96, 64), color=(220, 20, 20))
    clip = make_video(media / "clip.webm", seconds=3, size=(96, 64))
    pdf = make_pdf(media / "report.pdf", ["Page one.", "Page two."])
    patched = no_decoding_here()
    with DecodePool(Limits(), workers=1) as pool:
        cache = ThumbnailCache(tmp_path / "thumbs", 320, pool)
        made = [cache.get(_record(red, "image")), cache.get(_record(clip, "video", duration=3.0), t=1.5),
                cache.get(_record(pdf, "document", pages=2), page=2)]
        # a file whose content is no longer what was indexed is refused, not rendered as something else
        with pytest.raises(MediaError, match="holds image content, not the video"):
            cache.get(_record(red, "video", duration=3.0, id="changed"), t=1.0)
    assert all(p.read_bytes().startswith(JPEG) for p in made)
    patched.undo()
    from PIL import Image

    sizes = [Image.open(io.BytesIO(p.read_bytes())).size for p in made]
    assert sizes[0] == (96, 64) and sizes[1] == (96, 64) and max(sizes[2]) == 320


def test_serve_no_longer_reaches_into_the_pdf_decoder():
    import xmodal.serve.thumbnails as thumbnails

    source = open(thumbnails.__file__).read()
    assert "_PDFIUM" not in source and "pypdfium2" not in source and "av.open" not in source


@pytest.mark.slow  # waits out decode/lock time budgets (seconds)
def test_a_thumbnail_that_crashes_or_hangs_its_decoder_costs_one_request(tmp_path, crashy_pool):
    from xmodal.serve.thumbnails import ThumbnailCache

    good = make_image(tmp_path / "good.png")
    bad = make_image(tmp_path / "segfault.png")
    stuck = make_image(tmp_path / "hang.png")
    cache = ThumbnailCache(tmp_path / "thumbs", 128, crashy_pool)
    with pytest.raises(MediaError, match=r"crashed \(SIGSEGV"):
        cache.get(_record(bad, "image"))
    with pytest.raises(MediaError, match="time budget"):
        cache.get(_record(stuck, "image"))
    assert cache.get(_record(good, "image")).read_bytes().startswith(JPEG)  # the next request is served
    assert crashy_pool.restarts == 2
    assert not list((tmp_path / "thumbs").glob("*.part"))  # no half-written cache file


def test_ask_evidence_decodes_in_a_worker(tmp_path, no_decoding_here, crashy_pool):
    import xmodal.refine.evidence as evmod
    from xmodal.llm.evidence import Evidence

    pic = make_image(tmp_path / "sign.png")
    sound = make_audio(tmp_path / "speech.wav")
    crash = make_image(tmp_path / "segfault.png")
    patched = no_decoding_here()
    got = []
    patched.setattr(evmod, "_ocr", lambda media: got.append(media) or [Evidence(kind="ocr", text="EXIT", source="ocr")])
    patched.setattr(evmod, "_asr", lambda media: got.append(media) or [])
    results = [SearchResult(id="a", path=str(pic), modality=Modality.IMAGE, score=1.0),
               SearchResult(id="b", path=str(sound), modality=Modality.AUDIO, score=0.9)]
    ev, notes = evmod.gather(results, {})
    assert notes == [] and ev[0][-1].text == "EXIT"
    assert got[0].images and got[1].audio is not None and len(got[1].audio) > 0  # decoded, elsewhere

    # a result file that now crashes its decoder: a note, the other result still gets its evidence
    results[1] = SearchResult(id="c", path=str(crash), modality=Modality.IMAGE, score=0.8)
    ev, notes = evmod.gather(results, {}, decoder=crashy_pool)
    assert ev[0][-1].text == "EXIT" and len(notes) == 1
    assert "segfault.png: OCR failed: the decoder crashed (SIGSEGV" in notes[0]


def test_image_encoder_given_only_a_path_decodes_in_a_worker(tmp_path, no_decoding_here):
    from xmodal.encode.image_conse import decode_image_file

    pic, sound = make_image(tmp_path / "a.png", size=(40, 30)), make_audio(tmp_path / "b.wav")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    no_decoding_here()
    im = decode_image_file(str(pic))
    assert im.size == (40, 30) and im.mode == "RGB"
    with pytest.raises(MediaError, match="not an image"):
        decode_image_file(str(sound))
    with pytest.raises(MediaError, match="broken.png"):
        decode_image_file(str(tmp_path / "broken.png"))


def test_evaluation_report_pictures_decode_in_a_worker(tmp_path, no_decoding_here):
    import base64

    from xmodal.eval.report import _jpeg_thumbnail

    pic = make_image(tmp_path / "a.png", size=(400, 300))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    no_decoding_here()
    thumb = _jpeg_thumbnail(pic)
    assert thumb and base64.b64decode(thumb).startswith(JPEG)
    assert _jpeg_thumbnail(tmp_path / "broken.png") is None


def test_a_pdf_thumbnail_gets_the_checks_indexing_gets(tmp_path):
    """The server's page renderer skipped the stream check: a PDF that inflates to gigabytes
    was rendered as a thumbnail even though indexing refuses it."""
    from mediagen import make_pdf_stream_bomb
    from xmodal.serve.thumbnails import ThumbnailCache

    bomb = make_pdf_stream_bomb(tmp_path / "bomb.pdf", inflated=64 << 20)
    with DecodePool(Limits(max_pdf_stream_bytes=8 << 20), workers=1) as pool:
        cache = ThumbnailCache(tmp_path / "thumbs", 128, pool)
        with pytest.raises(MediaError, match=r"bomb\.pdf: .*inflates past 8 MiB \(Limits.max_pdf_stream_bytes\)"):
            cache.get(_record(bomb, "document", pages=1), page=1)
