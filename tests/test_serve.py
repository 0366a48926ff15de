"""`xmodal serve` through its HTTP API, over a small real index of every modality: search (text,
file, mixed; pagination, filters, threshold), more like this, items, media with Range, thumbnails,
ask, write jobs, keys, limits (413, 429), path traversal, headers, and 50 concurrent clients
against one real uvicorn server."""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mediagen import PALETTE, make_image, make_random  # noqa: E402
from servekit import API_KEY, HIGH, READ_KEY, build_index, registered, uvicorn_server  # noqa: E402
from xmodal.serve import Settings, create_app  # noqa: E402

# the served index is built with the real MiniLM / EfficientNet encoders (tests/servekit.py)
pytestmark = pytest.mark.slow

HOSTS = ("testserver", "127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    with registered():
        folder = tmp_path_factory.mktemp("serve")
        idx, media = build_index(folder)
        yield idx, media, folder


def _settings(folder: Path, **kw) -> Settings:
    return Settings(allowed_hosts=HOSTS, work_dir=folder / "work", **kw)


@pytest.fixture(scope="module")
def client(built):
    idx, _, folder = built
    with TestClient(create_app(idx, _settings(folder, llm_backend="serve-fake"))) as c:
        yield c


def _by_name(results):
    return {r["name"] or r["id"]: r for r in results}


def _no_server_paths(text: str, folder: Path) -> None:
    assert str(folder) not in text and "/tmp/" not in text, "a server path leaked into a response"


# -------------------------------------------------------------------------------------- reads


def test_health_stats_and_docs(client, built):
    _, _, folder = built
    h = client.get("/v1/health")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    assert h.json()["auth"] == {"read": False, "write": False}
    s = client.get("/v1/stats").json()
    assert s["by_modality"] == {"audio": 1, "document": 1, "image": 3, "text": 4, "video": 1}
    assert s["items"] == 10 and s["profile"] == "serve-test" and "path" not in s
    _no_server_paths(json.dumps(s), folder)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # offline: assets served here
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/search", "/v1/items/{item_id}/media", "/v1/items/{item_id}/thumbnail", "/v1/items/{item_id}/similar",
                 "/v1/ask", "/v1/items", "/v1/jobs/{job_id}", "/v1/health", "/v1/stats"):
        assert path in spec


def test_text_search_finds_the_matched_second_and_hides_paths(client, built):
    _, _, folder = built
    r = client.get("/v1/search", params={"q": HIGH, "k": 5})
    assert r.status_code == 200
    body = r.json()
    top = body["results"][0]
    assert top["name"] == "tones.wav" and top["modality"] == "audio"
    assert top["segment"]["start"] == 2.0 and top["segment"]["end"] == 3.0  # the whistle, not the hum
    assert set(top) >= {"id", "modality", "score", "scores", "text", "segment", "meta", "media_url", "thumbnail_url"}
    assert top["media_url"] == f"/v1/items/{top['id']}/media" and top["thumbnail_url"] is None
    assert "vector" in top["scores"] and body["took_ms"] > 0
    _no_server_paths(r.text, folder)


def test_video_results_carry_the_sense_that_matched_and_the_rerankers_reason(client, built, monkeypatch):
    idx, _, _ = built
    [clip] = client.get("/v1/search", params={"q": "a red picture", "modality": "video"}).json()["results"]
    seg = clip["segment"]
    assert seg["evidence"] == "picture" and seg["end"] > seg["start"] >= 0  # a silent clip: what is seen carried it
    assert clip["where"].endswith(" (picture)") and clip["thumbnail_url"].endswith(f"?t={seg['start']:.1f}")

    from xmodal.rerank import Reranker, RerankScore
    from xmodal.types import Segment

    class HeardAt(Reranker):  # what the audio-visual reranker returns: a moment, its sense, a reason
        def rerank(self, query, candidates):
            moment = Segment("window", start=1.0, end=2.0, evidence="sound")
            return [RerankScore(1.0, segment=moment, reason="audio-visual match on 00:01.0-00:02.0 (sound)") for _ in candidates]

    monkeypatch.setitem(idx.searcher._rerankers, "attention", HeardAt())
    [heard] = client.get("/v1/search", params={"q": "a dog barking", "modality": "video", "rerank": "attention"}).json()["results"]
    assert heard["segment"] == {"kind": "window", "index": 0, "start": 1.0, "end": 2.0, "evidence": "sound"}
    assert heard["where"] == "00:01.0-00:02.0 (sound)" and heard["meta"]["reason"] == "audio-visual match on 00:01.0-00:02.0 (sound)"


def test_pagination_pages_through_the_same_list(client):
    full = client.get("/v1/search", params={"q": "a red picture", "k": 6}).json()["results"]
    p1 = client.get("/v1/search", params={"q": "a red picture", "k": 3}).json()
    p2 = client.get("/v1/search", params={"q": "a red picture", "k": 3, "offset": p1["next_offset"]}).json()
    assert p1["next_offset"] == 3
    assert [r["id"] for r in p1["results"] + p2["results"]] == [r["id"] for r in full]
    last = client.get("/v1/search", params={"q": "a red picture", "k": 5, "offset": 8}).json()
    assert len(last["results"]) == 2 and last["next_offset"] is None  # 10 items in all


def test_modality_where_and_threshold_filters(client):
    imgs = client.get("/v1/search", params={"q": "colour", "modality": "image", "k": 10}).json()["results"]
    assert {r["modality"] for r in imgs} == {"image"} and len(imgs) == 3
    two = client.get("/v1/search", params=[("q", "sound"), ("modality", "audio"), ("modality", "video")]).json()["results"]
    assert {r["modality"] for r in two} == {"audio", "video"}
    timed = client.get("/v1/search", params={"q": "anything", "where": "duration > 2.5", "k": 10}).json()["results"]
    assert {r["name"] for r in timed} == {"tones.wav", "clip.webm"}
    everything = client.get("/v1/search", params={"q": "violin", "k": 10}).json()["results"]
    cut = everything[2]["score"]
    kept = client.get("/v1/search", params={"q": "violin", "k": 10, "min_score": cut}).json()
    assert [r["id"] for r in kept["results"]] == [r["id"] for r in everything if r["score"] >= cut]
    assert kept["next_offset"] is None
    bad = client.get("/v1/search", params={"q": "x", "where": "no_such_column > 1"})
    assert bad.status_code == 400 and "where" in bad.json()["detail"].lower()
    # yes/no answers to filters on `path` would spell out where files live: refused
    for probe_path in ("path LIKE '/tmp/%'", "PATH > '/'", "(modality = 'image') OR Path = ''"):
        r = client.get("/v1/search", params={"q": "x", "where": probe_path})
        assert r.status_code == 400 and "path column" in r.json()["detail"]
    assert client.get("/v1/search", params={"q": "x", "where": "text LIKE '%path%'"}).status_code == 200


@pytest.mark.parametrize("params, status", [
    ({"q": "x", "k": 0}, 422), ({"q": "x", "k": 101}, 422), ({"q": "x", "offset": -1}, 422),
    ({"q": "x", "offset": 5000}, 422), ({"q": "x" * 1001}, 422), ({"q": "x", "modality": "smell"}, 422),
    ({"q": "x", "rerank": "magic"}, 422), ({}, 400), ({"q": "   "}, 400),
])
def test_bounds_are_enforced(client, params, status):
    assert client.get("/v1/search", params=params).status_code == status


def test_file_and_mixed_queries_leave_no_temp_file(client, built):
    _, media, folder = built
    with open(media["red.png"], "rb") as f:
        r = client.post("/v1/search", files={"file": ("query.png", f, "image/png")}, params={"k": 3, "modality": "image"})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["name"] == "red.png"  # the picture finds itself first
    with open(media["tones.wav"], "rb") as f:
        mixed = client.post("/v1/search", files={"file": ("q.wav", f, "audio/wav")}, data={"q": HIGH}, params={"k": 3})
    assert mixed.status_code == 200 and mixed.json()["results"][0]["name"] == "tones.wav"
    junk = client.post("/v1/search", files={"file": ("junk.png", make_random(folder / "junk.bin").read_bytes(), "image/png")})
    assert junk.status_code == 400 and junk.json()["detail"].startswith("junk.png: ")
    _no_server_paths(junk.text, folder)
    empty = client.post("/v1/search", files={"file": ("empty.wav", b"", "audio/wav")})
    assert empty.status_code == 400
    assert list((folder / "work" / "tmp").iterdir()) == []


def test_items_similar_and_unknown_ids(client, built):
    _, _, folder = built
    hit = client.get("/v1/search", params={"q": "soups and stews", "modality": "document"}).json()["results"][0]
    assert hit["segment"]["page"] == 2 and hit["thumbnail_url"].endswith("?page=2")
    item = client.get(f"/v1/items/{hit['id']}")
    assert item.status_code == 200
    body = item.json()
    assert body["name"] == "report.pdf" and body["pages"] == 2 and "path" not in body
    assert "canteen" in body["text"] and [s["page"] for s in body["segments"] if s["kind"] == "page"] == [1, 2]
    _no_server_paths(item.text, folder)
    like = client.get(f"/v1/items/{hit['id']}/similar", params={"k": 4})
    assert like.status_code == 200
    ids = [r["id"] for r in like.json()["results"]]
    assert hit["id"] not in ids and len(ids) == 4
    assert client.get(f"/v1/items/{hit['id']}/similar", params={"modality": "image"}).json()["results"][0]["modality"] == "image"
    assert client.get("/v1/items/nope").status_code == 404
    assert client.get("/v1/items/nope/similar").status_code == 404
    raw = client.get("/v1/items/note-castle").json()
    assert raw["media_url"] is None and raw["name"] is None and "castle" in raw["text"]


def test_media_range_types_and_sandbox(client, built):
    _, media, _ = built
    found = _by_name(client.get("/v1/search", params={"q": "anything", "k": 10}).json()["results"])
    audio = found["tones.wav"]
    full = client.get(audio["media_url"])
    data = media["tones.wav"].read_bytes()
    assert full.status_code == 200 and full.content == data and full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    part = client.get(audio["media_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(audio["media_url"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    assert client.get(audio["media_url"], headers={"Range": f"bytes={len(data) + 10}-"}).status_code == 416
    video = client.get(found["clip.webm"]["media_url"], headers={"Range": "bytes=0-"})
    assert video.status_code == 206 and video.headers["content-type"] == "video/webm"
    for name, ctype in (("drawing.svg", "image/svg+xml"), ("page.html", "text/html")):
        item_id = found[name]["id"]
        r = client.get(f"/v1/items/{item_id}/media")
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
        assert r.headers["content-disposition"].startswith("attachment")
        assert "sandbox" in r.headers["content-security-policy"]
    assert client.get("/v1/items/note-castle/media").status_code == 404  # a raw text has no file


def test_thumbnails_images_video_frames_pdf_pages_cached(client, built):
    from PIL import Image

    _, _, folder = built
    found = _by_name(client.get("/v1/search", params={"q": "anything", "k": 10}).json()["results"])
    img = client.get(f"/v1/items/{found['red.png']['id']}/thumbnail")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    pic = Image.open(io.BytesIO(img.content))
    assert pic.size == (96, 64) and pic.getpixel((48, 32))[0] > 180  # small images keep their size
    clip = found["clip.webm"]["id"]
    for t in (0.5, 1.5, 2.5):  # the frame at t shows the colour mediagen drew for that second
        frame = Image.open(io.BytesIO(client.get(f"/v1/items/{clip}/thumbnail", params={"t": t}).content)).convert("RGB")
        got = frame.getpixel((frame.width // 2, frame.height - 5))  # below the moving black square
        want = PALETTE[int(t)]
        assert max(abs(a - b) for a, b in zip(got, want)) < 40, (t, got, want)
    pdf = found["report.pdf"]["id"]
    p2 = client.get(f"/v1/items/{pdf}/thumbnail", params={"page": 2})
    assert p2.status_code == 200 and max(Image.open(io.BytesIO(p2.content)).size) == 320
    assert client.get(f"/v1/items/{pdf}/thumbnail", params={"page": 2}).content == p2.content
    assert client.get(f"/v1/items/{pdf}/thumbnail", params={"page": 99}).status_code == 200  # clamped to the last page
    assert len(list((folder / "work" / "thumbnails").glob("*.jpg"))) >= 5
    svg = client.get(f"/v1/items/{found['drawing.svg']['id']}/thumbnail")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/jpeg"  # rendered, never served as SVG
    assert client.get(f"/v1/items/{found['tones.wav']['id']}/thumbnail").status_code == 404
    assert client.get("/v1/items/note-castle/thumbnail").status_code == 404


@pytest.mark.parametrize("path", [
    "/v1/items/..%2F..%2F..%2Fetc%2Fpasswd/media", "/v1/items/%2Fetc%2Fpasswd/media", "/v1/items/..%5C..%5Cwin.ini/media",
    "/v1/items/%00/media", "/v1/items/..%00/media", "/v1/items/%2e%2e/media", "/v1/items/..;/media",
    "/v1/items/%252e%252e%252fetc%252fpasswd/media", "/v1/items/x%0d%0aSet-Cookie:%20a=b/media",
    "/v1/items/..%2F..%2F..%2Fetc%2Fpasswd/thumbnail", "/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2fservice.py", "/static/%2Fetc%2Fpasswd", "/v1/items/" + "a" * 300 + "/media",
])
def test_path_traversal_never_reaches_a_file(client, path):
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "root:" not in r.text and "import" not in r.text


def test_absolute_paths_of_indexed_files_are_not_ids(client, built):
    _, media, _ = built
    for p in (media["red.png"], media["tones.wav"]):
        assert client.get(f"/v1/items/{quote(str(p), safe='')}/media").status_code == 404
        assert client.get("/v1/search", params={"q": str(p)}).status_code == 200  # a path is only text


def test_headers_hosts_and_page(client, built):
    idx, _, folder = built
    for path in ("/", "/v1/health", "/v1/items/nope", "/static/app.js"):
        assert client.get(path).headers["x-content-type-options"] == "nosniff"
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert '<input id="q"' in page.text and "cdn" not in page.text.lower()
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/v1/health", headers={"Host": "evil.example"}).status_code == 400
    assert "access-control-allow-origin" not in client.get("/v1/health", headers={"Origin": "http://evil.example"}).headers
    with TestClient(create_app(idx, _settings(folder, cors_origins=("http://app.example",)))) as c:
        ok = c.get("/v1/health", headers={"Origin": "http://app.example"})
        assert ok.headers["access-control-allow-origin"] == "http://app.example"
        assert "access-control-allow-origin" not in c.get("/v1/health", headers={"Origin": "http://evil.example"}).headers


def test_ask_returns_kept_dropped_reasons_and_cited_answer(client, built):
    _, _, folder = built
    schema = client.get("/v1/ask/schema").json()
    assert schema["title"] == "RefinedAnswer"
    r = client.post("/v1/ask", json={"question": "where is the high whistle?", "k": 4})
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["answer"] == "The whistle [1]." and ans["citations"] == [1]
    assert ans["kept"][0]["path"] == "tones.wav" and ans["kept"][0]["reason"]
    assert ans["kept"][0]["media_url"].endswith("/media")
    assert len(ans["kept"]) + len(ans["dropped"]) == 4 and all(d["reason"] for d in ans["dropped"])
    _no_server_paths(r.text, folder)
    plain = client.post("/v1/ask", json={"question": "castle", "k": 2, "refiner": "none"}).json()
    assert len(plain["kept"]) == 2 and plain["answer"] == ""
    assert client.post("/v1/ask", json={"question": "", "k": 2}).status_code == 422
    assert client.post("/v1/ask", json={"question": "x", "time_budget_s": 1e6}).status_code == 422
    with open(built[1]["red.png"], "rb") as f:
        by_file = client.post("/v1/ask/file", files={"file": ("q.png", f, "image/png")}, data={"k": "3", "refiner": "none"})
    assert by_file.status_code == 200 and len(by_file.json()["kept"]) == 3


# -------------------------------------------------------------------------------------- keys


@pytest.fixture(scope="module")
def keyed(built):
    idx, _, folder = built
    with TestClient(create_app(idx, _settings(folder, api_key=API_KEY, read_key=READ_KEY))) as c:
        yield c


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_read_key_401_403_and_session_cookie(keyed):
    assert keyed.get("/v1/health").status_code == 200  # liveness stays open
    r = keyed.get("/v1/search", params={"q": "violin"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert keyed.get("/v1/search", params={"q": "violin"}, headers=_auth("wrong-key-0123456789")).status_code == 403
    assert keyed.get("/v1/search", params={"q": "violin"}, headers=_auth(READ_KEY)).status_code == 200
    assert keyed.get("/v1/search", params={"q": "violin"}, headers=_auth(API_KEY)).status_code == 200
    assert keyed.get("/v1/stats", headers={"Authorization": "Basic abc"}).status_code == 401
    assert keyed.post("/v1/session", headers=_auth("nope-nope-nope-nope")).status_code == 403
    s = keyed.post("/v1/session", headers=_auth(READ_KEY))
    assert s.status_code == 204 and "httponly" in s.headers["set-cookie"].lower() and "samesite=strict" in s.headers["set-cookie"].lower()
    assert READ_KEY not in s.headers["set-cookie"]
    assert keyed.get("/v1/search", params={"q": "violin"}).status_code == 200  # the cookie now
    assert keyed.post("/v1/items", json={"texts": [{"id": "x", "text": "y"}]}).status_code == 401  # never for writes
    keyed.cookies.clear()


def test_write_key_401_403(keyed):
    body = {"texts": [{"id": "k1", "text": "a note"}]}
    assert keyed.post("/v1/items", json=body).status_code == 401
    assert keyed.post("/v1/items", json=body, headers=_auth("wrong-key-0123456789")).status_code == 403
    assert keyed.post("/v1/items", json=body, headers=_auth(READ_KEY)).status_code == 403
    assert keyed.delete("/v1/items/note-castle", headers=_auth(READ_KEY)).status_code == 403
    assert keyed.get("/v1/jobs/whatever", headers=_auth(READ_KEY)).status_code == 403


def test_writes_are_off_without_an_api_key(client):
    r = client.post("/v1/items", json={"texts": [{"id": "x", "text": "y"}]}, headers=_auth(API_KEY))
    assert r.status_code == 403 and "api-key-file" in r.json()["detail"]


def test_keys_from_files_and_env_never_shown(tmp_path, monkeypatch):
    from xmodal.errors import XModalError
    from xmodal.serve.settings import check_bind, read_key

    f = tmp_path / "key"
    f.write_text(API_KEY + "\n")
    f.chmod(0o600)
    assert read_key(f, "NOPE_ENV") == API_KEY
    f.chmod(0o644)
    with pytest.raises(XModalError, match="readable by other users"):
        read_key(f, "NOPE_ENV")
    monkeypatch.setenv("XMODAL_TEST_KEY", "short")
    with pytest.raises(XModalError, match="at least 16"):
        read_key(None, "XMODAL_TEST_KEY")
    monkeypatch.setenv("XMODAL_TEST_KEY", READ_KEY)
    s = Settings(api_key=API_KEY, read_key=read_key(None, "XMODAL_TEST_KEY"))
    assert API_KEY not in repr(s) and READ_KEY not in str(s) and "***" in repr(s)
    with pytest.raises(XModalError, match="refusing to listen"):
        check_bind("0.0.0.0", Settings())
    check_bind("0.0.0.0", s)
    check_bind("127.0.0.1", Settings())


# -------------------------------------------------------------------------------------- writes


@pytest.fixture
def writable(tmp_path):
    import xmodal

    idx = xmodal.open(tmp_path / "idx", {"name": "w", "text": {"encoder": "minilm-int8"},
                                         "image": {"encoder": "conse-effnet", "args": {"ocr": False}}})
    idx.add_texts([("seed", "A first note about gardening.")])
    with TestClient(create_app(idx, _settings(tmp_path, api_key=API_KEY))) as c:
        yield c, idx, tmp_path


def _wait(c, job_id: str) -> dict:
    deadline = time.monotonic() + 300  # an ANN build starts a child process: slow on a loaded machine
    while time.monotonic() < deadline:
        j = c.get(f"/v1/jobs/{job_id}", headers=_auth(API_KEY)).json()
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_upload_files_as_a_job_then_delete(writable):
    c, idx, tmp = writable
    png = make_image(tmp / "in" / "green.png", size=(80, 60), color=(20, 200, 20)).read_bytes()
    files = [("file", ("green.png", png, "image/png")), ("file", ("../../evil.png", png[:40], "image/png"))]
    r = c.post("/v1/items", files=files, headers=_auth(API_KEY))
    assert r.status_code == 202
    job = _wait(c, r.json()["job_id"])
    assert job["status"] == "done" and job["result"]["added"] == 1 and job["result"]["failed"] == 1
    assert job["progress"] == {"done": 2, "total": 2}
    ok, bad = job["items"]
    assert ok["status"] == "added" and ok["name"] == "green.png" and ok["id"]
    assert bad["status"] == "failed" and bad["name"] == "evil.png" and bad["reason"]  # no folders in names
    _no_server_paths(json.dumps(job), tmp)
    uploads = tmp / "idx" / "uploads"
    assert [p.name for p in uploads.rglob("*.png")] == ["green.png"]  # the failed upload is not kept
    item = c.get(f"/v1/items/{ok['id']}").json()
    assert item["name"] == "green.png" and item["modality"] == "image"
    assert c.get(item["media_url"]).content == png
    d = c.delete(f"/v1/items/{ok['id']}", headers=_auth(API_KEY))
    assert d.status_code == 202 and _wait(c, d.json()["job_id"])["result"] == {"deleted": 1}
    assert c.get(f"/v1/items/{ok['id']}").status_code == 404
    assert list(uploads.rglob("*.png")) == []
    assert c.delete("/v1/items/nope", headers=_auth(API_KEY)).status_code == 404
    assert c.get("/v1/jobs/nope", headers=_auth(API_KEY)).status_code == 404


def test_add_texts_as_a_job(writable):
    c, idx, _ = writable
    r = c.post("/v1/items", json={"texts": [{"id": "n1", "text": "Penguins live in the southern ocean.", "meta": {"tag": "bird"}},
                                            {"id": "n2", "text": "Tomatoes need sun."}]}, headers=_auth(API_KEY))
    assert r.status_code == 202
    job = _wait(c, r.json()["job_id"])
    assert job["status"] == "done" and job["result"]["added"] == 2
    top = c.get("/v1/search", params={"q": "flightless sea birds", "k": 1}).json()["results"][0]
    assert top["id"] == "n1" and top["meta"] == {"tag": "bird"}
    assert c.post("/v1/items", json={"texts": [{"id": "a/b", "text": "x"}]}, headers=_auth(API_KEY)).status_code == 400
    assert c.post("/v1/items", json={"texts": []}, headers=_auth(API_KEY)).status_code == 422
    assert c.post("/v1/items", content=b"x", headers={**_auth(API_KEY), "Content-Type": "text/plain"}).status_code == 415


def test_searches_are_answered_while_an_upload_builds_the_ann_index(writable, monkeypatch):
    """A write job that takes the index past its ANN threshold builds the vector index (minutes
    at 100k items); the server's searches must not wait for it: the build runs outside the
    server's write hold. Checked at the moment of the build, from another thread."""
    import threading

    c, idx, _ = writable
    service = c.app.state.service
    idx.store.ann_threshold = 3  # the seed and the two texts below
    real_build = idx.store.build_vector_index
    seen: dict = {}

    def build_while_searching() -> None:
        search = threading.Thread(target=lambda: seen.update(hits=service.search(text="flightless sea birds", k=1)), daemon=True)
        search.start()
        search.join(timeout=60)
        seen["answered_during_build"] = not search.is_alive()
        real_build()

    monkeypatch.setattr(idx.store, "build_vector_index", build_while_searching)
    r = c.post("/v1/items", json={"texts": [{"id": "n1", "text": "Penguins live in the southern ocean."},
                                            {"id": "n2", "text": "Tomatoes need sun."}]}, headers=_auth(API_KEY))
    assert _wait(c, r.json()["job_id"])["status"] == "done"
    assert seen["answered_during_build"] and seen["hits"]["results"][0]["id"] == "n1"
    assert idx.store.vector_index_stats()["indexed_rows"] == 3
    assert c.get("/v1/search", params={"q": "flightless sea birds", "k": 1}).json()["results"][0]["id"] == "n1"


def test_oversized_upload_is_refused_before_it_is_stored(tmp_path, monkeypatch, built):
    idx, _, _ = built
    spool = tmp_path / "spool"  # where Starlette would spool a multipart file part
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    settings = _settings(tmp_path, api_key=API_KEY, max_upload_bytes=1 << 20)
    big = os.urandom(3 << 20)
    with TestClient(create_app(idx, settings)) as c:
        r = c.post("/v1/search", files={"file": ("big.png", big, "image/png")})
        assert r.status_code == 413
        w = c.post("/v1/items", files={"file": ("big.png", big, "image/png")}, headers=_auth(API_KEY))
        assert w.status_code == 413

        def chunks():  # no Content-Length: the byte counter has to stop it
            boundary = b"--b0undary\r\n"
            yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
            for i in range(0, len(big), 65536):
                yield big[i : i + 65536]
            yield b"\r\n--b0undary--\r\n"

        s = c.post("/v1/search", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
        assert s.status_code == 413
        ok = c.post("/v1/search", files={"file": ("small.png", big[:1000], "image/png")})
        assert ok.status_code == 400  # within the limit: reaches the decoder (random bytes)
    assert list(spool.iterdir()) == []
    assert list((tmp_path / "work" / "tmp").iterdir()) == []
    assert not (idx.path / "uploads").exists() or list((idx.path / "uploads").iterdir()) == []


# -------------------------------------------------------------------------------------- one real server


def test_fifty_concurrent_clients_on_one_uvicorn_server(built):
    idx, _, folder = built
    queries = ["a red picture", HIGH, "violin", "soups", "castle", "bread", "a blue thing", "a video", "orchestra", "a low hum"]
    expected = {q: idx.search(q, k=3)[0].id for q in queries}
    with uvicorn_server(create_app(idx, _settings(folder))) as base:

        def client_run(i: int) -> list[tuple[int, str, str]]:
            out = []
            with httpx.Client(base_url=base, timeout=60) as h:
                for j in range(4):
                    q = queries[(i + j) % len(queries)]
                    r = h.get("/v1/search", params={"q": q, "k": 3})
                    out.append((r.status_code, q, r.json()["results"][0]["id"] if r.status_code == 200 else r.text))
            return out

        with cf.ThreadPoolExecutor(50) as pool:
            runs = [x for batch in pool.map(client_run, range(50)) for x in batch]
    assert len(runs) == 200
    errors = [r for r in runs if r[0] != 200]
    assert errors == []
    assert all(top == expected[q] for _, q, top in runs)  # same answers as the Python API


def test_busy_server_answers_429(built, monkeypatch):
    idx, _, folder = built
    app = create_app(idx, _settings(folder, max_encodes=1, max_waiting=0))
    real = idx.search
    entered, release = threading.Event(), threading.Event()

    def slow(*a, **kw):  # holds the one encode slot until the others have been answered
        entered.set()
        release.wait(60)
        return real(*a, **kw)

    monkeypatch.setattr(idx, "search", slow)
    with uvicorn_server(app) as base, cf.ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.get, f"{base}/v1/search", params={"q": "violin"}, timeout=60)
        assert entered.wait(60)
        rs = [httpx.get(f"{base}/v1/search", params={"q": "violin"}, timeout=30) for _ in range(3)]
        release.set()
        assert first.result().status_code == 200
    assert [r.status_code for r in rs] == [429] * 3
    assert rs[0].headers["retry-after"] == "1" and "busy" in rs[0].json()["detail"]


def test_cli_serve_end_to_end(tmp_path):
    """The real console command: opens a text index once, listens on a free port, answers."""
    import xmodal

    idx = xmodal.open(tmp_path / "idx", {"name": "t", "text": {"encoder": "minilm-int8"}})
    idx.add_texts([("castle", "The ruined castle stands on a hill."), ("bread", "Bake bread with yeast.")])
    env = {**os.environ, "PYTHONPATH": str(Path(xmodal.__file__).parents[1]), "XMODAL_API_KEY": ""}
    proc = subprocess.Popen([sys.executable, "-c", "from xmodal.cli import main; main()", "serve", "--index", str(tmp_path / "idx"), "--port", "0",
                             "--work-dir", str(tmp_path / "work")], stderr=subprocess.PIPE, text=True, env=env)
    try:
        url, lines = None, []
        deadline = time.time() + 60
        while url is None and time.time() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "Uvicorn running on" in line:
                url = line.split("running on ")[1].split()[0]
        assert url, "".join(lines)
        assert any("writes off" in x and "reads open" in x for x in lines)
        assert httpx.get(f"{url}/v1/health").json()["status"] == "ok"
        top = httpx.get(f"{url}/v1/search", params={"q": "a fortress on a hill"}).json()["results"][0]
        assert top["id"] == "castle"
    finally:
        proc.terminate()
        proc.wait(15)


def test_cli_serve_refuses_what_it_should():
    from typer.testing import CliRunner

    from xmodal.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["serve", "--index", "/nonexistent-index"])
    assert r.exit_code == 1 and "no index" in r.output
