"""xmodal.data: Debian fetching, stamp/prompt parsing, clips, the demo folder and BEIR sets.

Everything runs on small synthetic Debian-like trees made in tmp_path; one test reads the real
packages and is skipped when they have not been fetched.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mediagen import make_audio, make_image, make_svg, make_wav
from xmodal.data.asterisk import asterisk_prompts, parse_transcripts
from xmodal.data.sources import ASTERISK_SOUNDS, ASTERISK_TRANSCRIPTS, DEBS, TUXPAINT_STAMPS
from xmodal.data.tuxpaint import normalise_caption, parse_caption_file, tuxpaint_stamps


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    # nothing in these tests may read or write the user's real cache
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------ synthetic trees

TRANSLATIONS = "es.utf8=Un {es}.\nfr.utf8=Un {fr}.\nde.utf8=Ein {de}.\nit.utf8=Un {it}.\npt_BR.utf8=Um {pt}.\n"

# (relative id, caption, image ext, colour, has sound, has spoken caption, translations)
STAMPS = [
    ("animals/birds/blackbird", "A blackbird.", ".png", (20, 20, 20, 255), True, True,
     dict(es="mirlo", fr="merle", de="Amsel", it="merlo", pt="melro")),
    ("animals/frog", "A frog.", ".png", (20, 200, 20, 255), True, False,
     dict(es="rana", fr="grenouille", de="Frosch", it="rana", pt="sapo")),
    ("animals/frog-1", "A frog.", ".svg", "#14c814", False, True,
     dict(es="rana", fr="grenouille", de="Frosch", it="rana", pt="sapo")),
    ("food/fruit/banana", "A banana.", ".png", (230, 230, 20, 255), True, True,
     dict(es="plátano", fr="banane", de="Banane", it="banana", pt="banana")),
    ("household/kettle", "An electric kettle.", ".svg", "#1414dc", True, False,
     dict(es="hervidor", fr="bouilloire", de="Wasserkocher", it="bollitore", pt="chaleira")),
    ("vehicles/truck", "A truck.", ".png", (220, 20, 20, 255), True, True,
     dict(es="camión", fr="camion", de="Lastwagen", it="camion", pt="caminhão")),
    ("vehicles/boat", "A boat.", ".png", (20, 220, 220, 255), True, False,
     dict(es="barco", fr="bateau", de="Boot", it="barca", pt="barco")),
    ("plants/tree", "A tree.", ".png", (120, 40, 160, 255), False, True,
     dict(es="árbol", fr="arbre", de="Baum", it="albero", pt="árvore")),
    ("plants/rose", "A rose.", ".svg", "#dc14dc", True, False,
     dict(es="rosa", fr="rose", de="Rose", it="rosa", pt="rosa")),
    ("town/house", "A house.", ".png", (240, 140, 0, 255), False, False,
     dict(es="casa", fr="maison", de="Haus", it="casa", pt="casa")),
    ("sports/ball", "A ball.", ".png", (200, 100, 50, 255), True, False,
     dict(es="balón", fr="ballon", de="Ball", it="pallone", pt="bola")),
    ("space/rocket", "A rocket.", ".png", (90, 90, 200, 255), True, True,
     dict(es="cohete", fr="fusée", de="Rakete", it="razzo", pt="foguete")),
    ("symbols/letters/b", "The letter B.", ".png", (0, 0, 0, 255), True, False,
     dict(es="letra B", fr="lettre B", de="Buchstabe B", it="lettera B", pt="letra B")),
]


@pytest.fixture(scope="module")
def tux_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tux")
    base = root / TUXPAINT_STAMPS
    for i, (sid, caption, ext, colour, sound, spoken, tr) in enumerate(STAMPS):
        stem = base / sid
        if ext == ".png":
            make_image(stem.with_suffix(".png"), size=(60, 40), color=colour)
        else:
            make_svg(stem.with_suffix(".svg"), size=(80, 60), color=colour)
        stem.with_suffix(".txt").write_text(caption + "\n" + TRANSLATIONS.format(**tr), encoding="utf-8")
        if sound:
            make_audio(stem.with_suffix(".ogg"), seconds=0.6, freq=300 + 40 * i)
        if spoken:
            make_audio(stem.parent / f"{stem.name}_desc.ogg", seconds=0.4, freq=500)
            make_audio(stem.parent / f"{stem.name}_desc_fr.ogg", seconds=0.4, freq=520)
    # an untranslated line (English left in place) is not a cross-lingual query
    ball = base / "sports" / "ball.txt"
    ball.write_text(ball.read_text().replace("es.utf8=Un balón.", "es.utf8=A ball."), encoding="utf-8")
    # an image without a caption (Tux Paint's flipped variants) and a caption without an image
    make_image(base / "vehicles" / "truck_mirror.png", size=(60, 40))
    (base / "seasonal").mkdir()
    (base / "seasonal" / "gift.txt").write_text("A gift.\n")
    # an odd caption file: BOM, CRLF, blank lines, a Latin-1 byte, a bare "de=" variant
    (base / "household" / "cup.txt").write_bytes(
        b"\xef\xbb\xbf\r\nA cup of tea.\r\n\r\nde=Eine Tasse Tee.\r\nfr.utf8=\r\nes.UTF-8 = Una taza.\r\n")
    make_image(base / "household" / "cup.png", size=(40, 40), color=(250, 250, 250, 255))
    return root


ASTERISK_TXT = """; Core Asterisk Sounds in English

conf-getpin: Please enter the conference pin number.
call-forwarding: Call forwarding.
auth-thankyou: Thank you.
thank-you: Thank  you.
digits/1: one
beep: [this is a simple beep tone]
silence/1: (1 second of silence)
no-such-file: This prompt has no recording.
this line has no colon
dictate/pause: pause
"""


@pytest.fixture(scope="module")
def asterisk_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("asterisk")
    sounds = root / ASTERISK_SOUNDS
    for i, key in enumerate(["conf-getpin", "call-forwarding", "auth-thankyou", "thank-you",
                             "digits/1", "beep", "silence/1", "dictate/pause"]):
        make_wav(sounds / f"{key}.wav", seconds=0.3, freq=200 + 50 * i, sr=8000)
    tr = root / ASTERISK_TRANSCRIPTS
    tr.parent.mkdir(parents=True)
    tr.write_bytes(gzip.compress(ASTERISK_TXT.encode()))
    return root


# ------------------------------------------------------------------------------ parsing


def test_caption_file_caption_and_translations():
    cap, tr = parse_caption_file("A blackbird.\nde.utf8=Eine Amsel.\nsr@latin.utf8=Kos.\n"
                                 "zh_TW.utf8=黑鸝\npt_BR.utf8=Um melro-preto.\n")
    assert cap == "A blackbird."
    assert tr == {"de": "Eine Amsel.", "sr@latin": "Kos.", "zh_TW": "黑鸝", "pt_BR": "Um melro-preto."}


def test_caption_file_odd_lines():
    raw = ("\ufeff\n  A cup of tea.  \r\n# a comment\n\nde=Eine Tasse Tee.\nfr.utf8=\n"
           "es.UTF-8 = Una taza.\nde.utf8=Zweite Zeile.\nthis is not a translation\n")
    cap, tr = parse_caption_file(raw)
    assert cap == "A cup of tea."
    # empty French dropped; the first German line wins; the charset suffix is optional
    assert tr == {"de": "Eine Tasse Tee.", "es": "Una taza."}


def test_caption_file_non_utf8_bytes_and_empty():
    cap, tr = parse_caption_file("A café.\nfr.utf8=Un café.\n".encode("latin-1"))
    assert cap == "A café."
    assert tr == {"fr": "Un café."}
    assert parse_caption_file(b"") == ("", {})
    assert parse_caption_file("de.utf8=Nur Deutsch.\n") == ("", {"de": "Nur Deutsch."})


def test_normalise_caption_groups_variants():
    assert normalise_caption("A frog.") == normalise_caption("frog") == normalise_caption("The  Frog!")
    assert normalise_caption("An electric kettle.") == "electric kettle"
    assert normalise_caption("A frog.") != normalise_caption("A frog prince.")


def test_tuxpaint_stamps_from_tree(tux_root):
    stamps = {s.id: s for s in tuxpaint_stamps(tux_root)}
    # captionless mirror images and imageless captions are not stamps
    assert "vehicles/truck_mirror" not in stamps and "seasonal/gift" not in stamps
    assert len(stamps) == len(STAMPS) + 1
    b = stamps["animals/birds/blackbird"]
    assert (b.category, b.caption, b.name) == ("animals", "A blackbird.", "blackbird")
    assert b.image.name == "blackbird.png" and b.sound.name == "blackbird.ogg"
    assert b.spoken.name == "blackbird_desc.ogg"
    assert set(b.spoken_translations) == {"fr"}
    assert b.translations["pt_BR"] == "Um melro."
    assert stamps["animals/frog-1"].image.suffix == ".svg"
    assert stamps["animals/frog-1"].sound is None
    cup = stamps["household/cup"]
    assert cup.caption == "A cup of tea." and cup.translations == {"de": "Eine Tasse Tee.", "es": "Una taza."}
    # stamps folder given directly works the same
    assert [s.id for s in tuxpaint_stamps(tux_root / TUXPAINT_STAMPS)] == sorted(stamps)


def test_tuxpaint_stamps_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Tux Paint stamps"):
        tuxpaint_stamps(tmp_path / "nothing")


def test_parse_transcripts_skip_rules():
    table = parse_transcripts(ASTERISK_TXT)
    assert table["conf-getpin"] == "Please enter the conference pin number."
    assert table["digits/1"] == "one"
    assert table["thank-you"] == "Thank you."  # inner whitespace collapsed
    for skipped in ("beep", "silence/1"):  # tones and silence are not speech
        assert skipped not in table
    assert not any(" " in k for k in table)  # the line without a colon is not a key


def test_asterisk_prompts_need_wav_and_transcript(asterisk_root):
    prompts = asterisk_prompts(asterisk_root)
    keys = [p.key for p in prompts]
    assert keys == sorted(["auth-thankyou", "call-forwarding", "conf-getpin", "dictate/pause",
                           "digits/1", "thank-you"])
    p = {p.key: p for p in prompts}["digits/1"]
    assert p.wav == asterisk_root / ASTERISK_SOUNDS / "digits" / "1.wav" and p.wav.is_file()


# ------------------------------------------------------------------------------ fetching


def test_fetch_deb_extracts_once(tmp_path, monkeypatch):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not available")
    from xmodal.config import cache_dir
    from xmodal.data import debian

    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: xmodal-fake\nVersion: 1:2.0-1\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n")
    (pkg / "usr" / "share" / "fake").mkdir(parents=True)
    (pkg / "usr" / "share" / "fake" / "hello.txt").write_text("hi\n")
    deb = cache_dir("debs") / "xmodal-fake_1%3a2.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(pkg), str(deb)], check=True, capture_output=True)

    root = debian.fetch_deb("xmodal-fake", "1:2.0-1")
    assert (root / "usr/share/fake/hello.txt").read_text() == "hi\n"
    # second call: the marker says it is done, so neither apt nor dpkg runs
    monkeypatch.setattr(debian, "_run", lambda *a, **k: pytest.fail("ran a command again"))
    assert debian.fetch_deb("xmodal-fake", "1:2.0-1") == root


def test_fetch_deb_errors(monkeypatch):
    from xmodal.data import debian

    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    monkeypatch.setattr(debian, "_find_deb", lambda *a: None)
    with pytest.raises(debian.DebianFetchError, match="apt-get is not available"):
        debian.fetch_deb("scratch")

    monkeypatch.setattr(debian.shutil, "which", lambda name: "/usr/bin/" + name)
    calls = []

    def fake_run(cmd, cwd):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 100, "", "E: Version '0' for 'scratch' was not found")

    monkeypatch.setattr(debian, "_run", fake_run)
    with pytest.raises(debian.DebianFetchError, match="re-pin in xmodal/data/sources.py"):
        debian.fetch_deb("scratch", "0")
    assert ["apt-get", "update"] in calls  # refreshed the lists once before giving up
    with pytest.raises(KeyError, match="not a pinned source"):
        debian.fetch_deb("no-such-package")


def test_pins_are_in_one_place():
    assert DEBS["tuxpaint-stamps-default"].version == "2022.06.04-1"
    assert DEBS["openclipart-svg"].version == "1:0.18+dfsg-19"


# ------------------------------------------------------------------------------ clips


def _mean_rgb(frame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(0)


def test_make_stamp_clip_decodes(tmp_path):
    import av

    from xmodal.data.video import decode_audio, make_stamp_clip

    red = make_image(tmp_path / "red.png", size=(80, 60), color=(220, 20, 20, 255))
    blue = make_svg(tmp_path / "blue.svg", size=(80, 60), color="#1414dc")
    snd = make_audio(tmp_path / "tone.ogg", seconds=2.0, freq=440)
    out = tmp_path / "clip.mp4"
    spans = make_stamp_clip(out, [(red, snd, 1.0, "Red."), (blue, None, 1.0, "Blue."), (red, snd, 1.0)],
                            size=(160, 120), fps=8)
    assert [(s["start"], s["end"]) for s in spans] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert [s["caption"] for s in spans] == ["Red.", "Blue.", ""]

    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert (v.codec_context.width, v.codec_context.height) == (160, 120)
        assert len(c.streams.audio) == 1 and c.streams.audio[0].codec_context.name == "aac"
        assert c.streams.audio[0].codec_context.sample_rate == 16000
        assert c.duration / 1e6 == pytest.approx(3.0, abs=0.1)
        frames = list(c.decode(video=0))
    assert len(frames) == 24
    # each shot shows its own picture: red, blue, red (the background is light, the picture dominant)
    means = [_mean_rgb(frames[i]) for i in (4, 12, 20)]
    assert means[0][0] > means[0][2] + 40 and means[1][2] > means[1][0] + 40 and means[2][0] > means[2][2] + 40
    # the camera moves: frames within one shot differ
    a, b = (f.to_ndarray(format="rgb24").astype(int) for f in (frames[0], frames[7]))
    assert np.abs(a - b).mean() > 1.0
    # audio: the tone in shot 1, silence in shot 2 (it has no sound), 3 s in all
    wave = decode_audio(out)
    assert len(wave) / 16000 == pytest.approx(3.0, abs=0.1)
    rms = [float(np.sqrt(np.mean(wave[int(t * 16000):int((t + 0.5) * 16000)] ** 2))) for t in (0.2, 1.3, 2.2)]
    assert rms[0] > 0.1 and rms[1] < 0.01 and rms[2] > 0.1


def test_make_stamp_clip_rejects_bad_input(tmp_path):
    from xmodal.data.video import make_stamp_clip
    from xmodal.errors import MediaError

    with pytest.raises(ValueError, match="at least one shot"):
        make_stamp_clip(tmp_path / "a.mp4", [])
    with pytest.raises(ValueError, match="even width"):
        make_stamp_clip(tmp_path / "a.mp4", [(tmp_path / "x.png", None, 1.0)], size=(161, 120))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(MediaError, match="bad.png"):
        make_stamp_clip(tmp_path / "a.mp4", [(bad, None, 1.0)])


# ------------------------------------------------------------------------------ sets


def test_split_is_deterministic_and_near_70_30():
    from xmodal.data.sets import split_of

    keys = [f"caption number {i}" for i in range(3000)]
    first = [split_of(k) for k in keys]
    assert first == [split_of(k) for k in keys]
    frac = first.count("train") / len(first)
    assert 0.66 < frac < 0.74


def test_list_sets_and_unknown_name(tmp_path):
    from xmodal.data.sets import build_set, list_sets

    sets = list_sets()
    for name in ("tuxpaint-t2i", "tuxpaint-i2t", "tuxpaint-t2a", "tuxpaint-speech2i",
                 "tuxpaint-multilingual-t2i", "tuxpaint-video", "asterisk-t2a"):
        assert name in sets and sets[name]
    with pytest.raises(KeyError, match="unknown evaluation set"):
        build_set("nope", tmp_path)


TUX_SETS = ["tuxpaint-t2i", "tuxpaint-i2t", "tuxpaint-t2a", "tuxpaint-a2i", "tuxpaint-speech2i",
            "tuxpaint-multilingual-t2i", "tuxpaint-video"]


def _provenance(folder: Path) -> dict[str, dict]:
    return {r["_id"]: r for r in map(json.loads, (folder / "provenance.jsonl").read_text().splitlines())}


@pytest.mark.parametrize("name", TUX_SETS + ["asterisk-t2a"])
def test_built_sets_are_valid_beir(name, tmp_path, tux_root, asterisk_root):
    from xmodal.data.beir import validate_set
    from xmodal.data.sets import build_set

    src = asterisk_root if name.startswith("asterisk") else tux_root
    small = {"n_single": 4, "n_multi": 4, "seconds": 1.0, "size": (96, 72)} if name.endswith("video") else {}
    folder = build_set(name, tmp_path / "sets", source_root=src, **small)
    splits = validate_set(folder)  # raises on unknown ids, missing media, bad rows, a query in both splits
    for split in ("train", "test"):
        lines = (folder / "qrels" / f"{split}.tsv").read_text().splitlines()
        assert lines[0] == "query-id\tcorpus-id\tscore"
    assert set(splits) == {"train", "test"} and any(s.queries for s in splits.values())
    corpus = splits["test"].corpus
    queries = {**splits["train"].queries, **splits["test"].queries}
    n_query_lines = len((folder / "queries.jsonl").read_text().splitlines())
    assert len(queries) == n_query_lines  # every query is judged in exactly one split
    for item in list(corpus.values()) + list(queries.values()):
        if item.path is not None:
            rel = item.path.relative_to(folder.resolve()).as_posix()
            assert rel.startswith("media/") and item.path.is_file()
            # names must not give the answer away
            assert not any(w in rel for w in ("frog", "blackbird", "banana", "pin"))
    info = json.loads((folder / "SET_INFO.json").read_text())
    assert info["name"] == name and info["counts"]["corpus"] == len(corpus)
    assert info["counts"]["queries"] == {k: len(v.qrels) for k, v in splits.items()}


@pytest.mark.parametrize("name", ["tuxpaint-t2i", "tuxpaint-i2t", "tuxpaint-multilingual-t2i", "asterisk-t2a"])
def test_no_caption_on_both_sides_and_deterministic(name, tmp_path, tux_root, asterisk_root):
    from xmodal.data.beir import load_splits
    from xmodal.data.sets import build_set

    src = asterisk_root if name.startswith("asterisk") else tux_root
    a = build_set(name, tmp_path / "a", source_root=src)
    b = build_set(name, tmp_path / "b", source_root=src)
    for f in ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/test.tsv"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    splits, prov = load_splits(a), _provenance(a)
    side: dict[str, str] = {}
    for split, s in splits.items():
        for q in s.qrels:
            p = prov[q]
            group = p.get("group") or normalise_caption(p["english"])
            assert side.setdefault(group, split) == split, f"{group} on both sides"


def test_t2i_relevance_and_corpus(tmp_path, tux_root):
    from xmodal.data.beir import load_splits
    from xmodal.data.sets import build_set

    folder = build_set("tuxpaint-t2i", tmp_path, source_root=tux_root)
    splits = load_splits(folder)
    prov = _provenance(folder)
    corpus = splits["test"].corpus
    sources = {prov[c]["source"] for c in corpus}
    assert not any(x.startswith("symbols/") for x in sources)  # alphabets are left out
    assert len(corpus) == len(STAMPS)  # 12 outside symbols + the odd cup
    assert splits["train"].qrels and splits["test"].qrels  # the split puts queries on both sides
    qrels = {**splits["train"].qrels, **splits["test"].qrels}
    queries = {**splits["train"].queries, **splits["test"].queries}
    frog_q = next(q for q, row in queries.items() if row.text == "A frog.")
    assert {prov[c]["source"] for c in qrels[frog_q]} == {"animals/frog", "animals/frog-1"}
    assert {corpus[c].path.suffix for c in qrels[frog_q]} == {".png", ".svg"}
    # building again reuses the finished set
    mtime = (folder / "corpus.jsonl").stat().st_mtime_ns
    build_set("tuxpaint-t2i", tmp_path, source_root=tux_root)
    assert (folder / "corpus.jsonl").stat().st_mtime_ns == mtime


def test_multilingual_queries(tmp_path, tux_root):
    from xmodal.data.beir import load_splits
    from xmodal.data.sets import MULTILINGUAL_LANGS, build_set

    folder = build_set("tuxpaint-multilingual-t2i", tmp_path, source_root=tux_root)
    queries = {q: row for s in load_splits(folder).values() for q, row in s.queries.items()}
    langs = {q.meta["lang"] for q in queries.values()}
    assert langs == set(MULTILINGUAL_LANGS)
    texts = {(q.meta["lang"], q.text) for q in queries.values()}
    assert ("de", "Ein Frosch.") in texts and ("fr", "Un merle.") in texts
    assert ("es", "A ball.") not in texts and ("fr", "Un ballon.") in texts
    # queries are split by the English caption group of their images
    info = json.loads((folder / "SET_INFO.json").read_text())
    assert info["dropped_queries"]["untranslated"] == 1


def test_video_set_shots(tmp_path, tux_root):
    import av

    from xmodal.data.beir import load_splits
    from xmodal.data.sets import build_set

    folder = build_set("tuxpaint-video", tmp_path, source_root=tux_root, n_single=3, n_multi=4,
                       seconds=1.0, size=(96, 72))
    splits = load_splits(folder)
    prov = _provenance(folder)
    corpus = splits["test"].corpus
    clips = [prov[c] for c in corpus]
    assert {len(c["shots"]) for c in clips} >= {1, 2}
    assert {item.modality for item in corpus.values()} == {"video"}  # sniffed from the MP4 content
    for s in splits.values():
        for q, rel in s.qrels.items():
            cap = normalise_caption(s.queries[q].text)
            for c in rel:  # every relevant clip has a shot with the query's caption
                assert cap in {normalise_caption(sh["caption"]) for sh in prov[c]["shots"]}
    some = next(c for c in corpus if len(prov[c]["shots"]) > 1)
    with av.open(str(corpus[some].path)) as c:
        assert c.duration / 1e6 == pytest.approx(prov[some]["shots"][-1]["end"], abs=0.15)
        assert c.streams.audio


# ------------------------------------------------------------------------------ demo


@pytest.mark.slow
def test_build_demo_small(tmp_path, tux_root, asterisk_root):
    import pypdfium2

    from xmodal.data.demo import build_demo, load_manifest

    out = build_demo(tmp_path / "demo", n_images=5, n_sounds=2, n_spoken=2, n_prompts=2,
                     tux_root=tux_root, asterisk_root=asterisk_root)
    m = load_manifest(out)
    files = {f["file"]: f for f in m["files"]}
    assert set(files) | {".manifest.json"} == {p.name for p in out.iterdir()}
    by = lambda mod: [f for f in m["files"] if f["modality"] == mod]  # noqa: E731
    assert len(by("image")) == 5 and {Path(f["file"]).suffix for f in by("image")} == {".png", ".svg"}
    assert all(not f["source"].startswith("symbols/") for f in by("image"))
    sounds = [f for f in by("audio") if f.get("kind") == "sound of the object"]
    assert len(sounds) == 2
    images = {f["caption"] for f in by("image")}
    assert {f["caption"] for f in sounds} <= images  # a sound's picture is in the folder too
    prompts = [f for f in by("audio") if f["source"].startswith("asterisk:")]
    assert prompts and all(f["transcript"][0].isupper() for f in prompts)
    videos = by("video")
    assert sorted(len(v["shots"]) for v in videos) == [1, 1, 3]
    doc = by("document")[0]
    assert len(pypdfium2.PdfDocument(str(out / doc["file"]))) == 3 == len(doc["pages"])
    page_text = pypdfium2.PdfDocument(str(out / doc["file"]))[0].get_textpage().get_text_range()
    assert doc["pages"][0]["caption"] in page_text
    notes = by("text")
    assert {Path(f["file"]).suffix for f in notes} == {".txt", ".md", ".html"}
    for f in notes:
        body = (out / f["file"]).read_text()
        assert all(c.rstrip(".!").split()[-1] in body for c in f["mentions"])
    # reused when present; a stranger's non-empty folder is refused
    assert build_demo(tmp_path / "demo", tux_root=tux_root, asterisk_root=asterisk_root) == out
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        build_demo(tmp_path / "other", tux_root=tux_root, asterisk_root=asterisk_root)


# ------------------------------------------------------------------------------ real packages


def _real(package: str) -> Path | None:
    base = Path.home() / ".cache" / "xmodal" / "debs" / "x"
    for root in (base / package, base):
        if (root / ".xmodal-extracted").is_file() or (root / "usr" / "share").is_dir():
            return root
    return None


@pytest.mark.slow
def test_real_packages_parse():
    tux, ast = _real("tuxpaint-stamps-default"), _real("asterisk-core-sounds-en-wav")
    if tux is None or ast is None or not (tux / TUXPAINT_STAMPS).is_dir():
        pytest.skip("real Debian packages not fetched (xmodal.data.debian.fetch_deb)")
    stamps = tuxpaint_stamps(tux)
    assert len(stamps) == 950  # DATA.md: 950 image-caption pairs
    outside = [s for s in stamps if s.category != "symbols"]
    assert len(outside) == 701
    violin = [s for s in stamps if s.caption == "A violin."]
    assert violin and violin[0].translations["de"] == "Eine Violine."
    assert sum(1 for s in stamps if s.sound) == 134
    trans = ast / ASTERISK_TRANSCRIPTS
    if not trans.is_file():
        other = _real("asterisk-core-sounds-en")
        trans = other / ASTERISK_TRANSCRIPTS if other else trans
    if not trans.is_file():
        pytest.skip("asterisk transcripts not fetched")
    prompts = asterisk_prompts(ast, trans)
    assert len(prompts) == 553
    assert {p.key: p.transcript for p in prompts}["conf-getpin"] == "Please enter the conference pin number."
