"""The web page in a real browser: Playwright drives Debian's headless Chromium (/usr/bin/chromium)
against a real uvicorn server over a small real index. Select with `-m browser`, skip with
`-m "not browser"`; CI runs them (XMODAL_REQUIRE_BROWSER=1 turns a missing browser into a failure).

Set XMODAL_SCREENSHOT_DIR to keep the screenshots (docs/serve-results.png is one of them).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("XMODAL_CHROMIUM", "/usr/bin/chromium")
# the flags this machine needs: root (no sandbox), no GPU, and no calls home (the network is closed)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-quic", "--no-first-run", "--disable-default-apps", "--mute-audio"]


def _require(ok: bool, why: str) -> None:
    if not ok:
        if os.environ.get("XMODAL_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required here: {why}")
        pytest.skip(why, allow_module_level=True)


_require(shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists(), f"{CHROMIUM} missing (apt-get install chromium)")
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    _require(False, "playwright is not installed (pip install 'xmodal[browser-tests]')")

expect.set_options(timeout=20_000)  # assertions wait as long as actions do (a loaded CI machine)

import httpx  # noqa: E402

from servekit import HIGH, READ_KEY, build_index, registered, uvicorn_server  # noqa: E402
from xmodal.serve import Settings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with registered():
        folder = tmp_path_factory.mktemp("browser")
        idx, media = build_index(folder)
        settings = Settings(work_dir=folder / "work", llm_backend="serve-fake")
        with uvicorn_server(create_app(idx, settings)) as base:
            yield base, media, idx, folder


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    pg.set_default_timeout(20_000)
    yield pg
    ctx.close()
    assert errors == [], errors  # no script errors, no failed loads (CSP included)


def _shot(page, name: str, tmp_path: Path) -> Path:
    out = Path(os.environ.get("XMODAL_SCREENSHOT_DIR") or tmp_path) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=False)
    assert out.stat().st_size > 5000  # a real picture of the page, not a blank
    return out


def _until(page, js: str, timeout_s: float = 20.0):
    """Poll a JS expression until it is truthy. (Playwright's wait_for_function evaluates strings
    with eval, which the page's CSP rightly forbids; page.evaluate is not subject to it.)"""
    deadline = time.time() + timeout_s
    while True:
        value = page.evaluate(js)
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for: {js}")
        time.sleep(0.05)


def _search(page, text: str) -> None:
    page.fill("#q", text)
    page.press("#q", "Enter")
    expect(page.locator("#status")).to_contain_text("result")


def _wait_media_ready(page, selector: str) -> list[dict]:
    _until(page, f"[...document.querySelectorAll('{selector}')].every(m => m.readyState >= 1)")
    return page.eval_on_selector_all(selector, "els => els.map(m => ({t: m.currentTime, src: m.getAttribute('src')}))")


def test_text_search_results_images_and_players_at_the_matched_time(page, site, tmp_path):
    base, _, _, _ = site
    page.goto(base + "/")
    _search(page, HIGH)
    first = page.locator(".card").first
    expect(first).to_have_attribute("data-modality", "audio")
    expect(first.locator("h3")).to_contain_text("tones.wav")
    expect(first.locator(".where")).to_have_text("00:02.0-00:03.0")
    [audio] = _wait_media_ready(page, ".card.audio audio")
    assert audio["src"].endswith("#t=2.00,3.00") and abs(audio["t"] - 2.0) < 0.05  # starts on the whistle
    assert "q=a+high+whistle" in page.url
    expect(first.locator(".stages dt").first).to_have_text("vector")

    # every picture loaded, and the matched region is drawn over the image
    _search(page, "a red picture")
    _until(page, "[...document.querySelectorAll('#grid img')].every(i => i.complete)")
    sizes = page.eval_on_selector_all("#grid img", "imgs => imgs.map(i => i.naturalWidth)")
    assert sizes and all(w > 0 for w in sizes)
    box = page.locator(".card.image .box").first.bounding_box()
    frame = page.locator(".card.image .frame").first.bounding_box()
    assert box and frame and 0 < box["width"] <= frame["width"] + 1 and frame["y"] - 1 <= box["y"] <= frame["y"] + frame["height"]
    api = {r["modality"]: r for r in reversed(httpx.get(f"{base}/v1/search", params={"q": "a red picture", "k": 20}).json()["results"])}
    page_no = api["document"]["segment"]["page"]  # the matched page of the PDF is the one shown
    expect(page.locator(".card.document .where")).to_have_text(f"page {page_no}")
    expect(page.locator(".card.document img")).to_have_attribute("src", api["document"]["thumbnail_url"])
    expect(page.locator(".card.document a.media-box")).to_have_attribute("href", api["document"]["media_url"] + f"#page={page_no}")
    assert api["document"]["thumbnail_url"].endswith(f"?page={page_no}")

    # the video player starts where the API says the clip matched
    page.click('.mod-chip[data-modality="video"]')
    expect(page.locator('.mod-chip[data-modality="video"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".card")).to_have_count(1)
    want = httpx.get(f"{base}/v1/search", params={"q": "a red picture", "modality": "video"}).json()["results"][0]["segment"]
    [video] = _wait_media_ready(page, ".card.video video")
    assert abs(video["t"] - want["start"]) < 0.05 and video["src"].endswith(f"#t={want['start']:.2f},{want['end']:.2f}")
    page.click('.mod-chip[data-modality="video"]')
    expect(page.locator(".card")).not_to_have_count(1)
    _until(page, "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)")
    _shot(page, "serve-results.png", tmp_path)


def test_video_results_say_whether_the_match_was_heard_seen_or_both(page, site, tmp_path):
    base, _, _, _ = site
    # the real API: the test clip is silent, so its match is carried by the picture
    [clip] = httpx.get(f"{base}/v1/search", params={"q": "a red picture", "modality": "video"}).json()["results"]
    seg, span = clip["segment"], clip["where"].removesuffix(" (picture)")
    assert seg["evidence"] == "picture" and clip["where"] == f"{span} (picture)"
    page.goto(base + "/?q=a+red+picture&m=video")
    card = page.locator(".card.video")
    expect(card.locator(".sense")).to_have_text("seen")
    expect(card.locator(".where")).to_have_text(span)  # the span, then the badge
    expect(card.locator("video")).to_have_attribute("aria-label", f"clip.webm, from {span}, seen")

    # each sense, and the reason a reranker gives: the same answer, varied on its way to the page
    spans = []

    def senses(route):
        answer = route.fetch()
        body = answer.json()
        [r] = body["results"]
        spans.append(r["segment"])
        body["results"] = [
            {**r, "id": f"{r['id']}-{ev}", "segment": {**r["segment"], "evidence": ev},
             "where": f"{r['where'].removesuffix(' (picture)')} ({ev})", "meta": {**r["meta"], "reason": f"audio-visual match, {ev} carried it"}}
            for ev in ("sound", "both", "picture")]
        route.fulfill(response=answer, json=body)

    page.route("**/v1/search?*", senses)
    page.goto(base + "/?q=a+dog+barking&m=video")
    expect(page.locator(".card.video")).to_have_count(3)
    expect(page.locator(".card.video .sense")).to_have_text(["heard", "heard and seen", "seen"])
    expect(page.locator(".card.video .match-reason")).to_have_text(
        ["audio-visual match, sound carried it", "audio-visual match, both carried it", "audio-visual match, picture carried it"])
    want = spans[-1]
    for m in _wait_media_ready(page, ".card.video video"):  # each player starts at the matched span
        assert abs(m["t"] - want["start"]) < 0.05 and m["src"].endswith(f"#t={want['start']:.2f},{want['end']:.2f}")
    sense = page.locator(".card.video .sense").first
    assert sense.get_attribute("title") == "matched by what is heard at this moment"
    colours = page.eval_on_selector_all(".card.video .sense", "els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert len(set(colours)) == 3  # told apart at a glance, and in words for screen readers
    _shot(page, "serve-senses.png", tmp_path)


def test_upload_drop_and_paste_a_file_as_the_query(page, site):
    base, media, _, _ = site
    page.goto(base + "/")
    page.set_input_files("#file", str(media["red.png"]))
    expect(page.locator("#file-chip")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("red.png")
    expect(page.locator(".card").first.locator("h3")).to_contain_text("red.png")  # the picture finds itself

    page.click("#clear-file")
    expect(page.locator("#file-chip")).to_be_hidden()
    # drag-and-drop and paste: a real File built in the page from the blue picture's bytes
    blue_id = httpx.get(f"{base}/v1/search", params={"q": "x", "k": 20}).json()["results"]
    blue = next(r for r in blue_id if r["name"] == "blue.jpg")
    make = f"""async () => {{
        const blob = await (await fetch('{blue['media_url']}')).blob();
        const dt = new DataTransfer(); dt.items.add(new File([blob], 'dropped.jpg', {{type: 'image/jpeg'}})); return dt; }}"""
    dt = page.evaluate_handle(make)
    page.dispatch_event("body", "dragenter", {"dataTransfer": dt})
    expect(page.locator("#drop-overlay")).to_be_visible()
    page.dispatch_event("body", "drop", {"dataTransfer": dt})
    expect(page.locator("#drop-overlay")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("dropped.jpg")
    expect(page.locator(".card").first.locator("h3")).to_contain_text("blue.jpg")

    page.evaluate(make.replace("dropped.jpg", "pasted.jpg").replace("return dt; }", "document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt})); }"))
    expect(page.locator("#status")).to_contain_text("pasted.jpg")
    expect(page.locator(".card").first.locator("h3")).to_contain_text("blue.jpg")


def test_more_like_this_and_back(page, site):
    base, _, _, _ = site
    page.goto(base + "/?q=violin")
    expect(page.locator(".card").first.locator("h3")).to_contain_text("violin.txt")
    first_id = page.locator(".card").first.get_attribute("data-id")
    page.locator(".card").first.get_by_role("button", name="More like violin.txt").click()
    expect(page.locator("#like-chip")).to_be_visible()
    expect(page.locator("#like-name")).to_have_text("More like violin.txt")
    assert f"like={first_id}" in page.url
    expect(page.locator("#status")).to_contain_text("like violin.txt")
    ids = page.eval_on_selector_all(".card", "cs => cs.map(c => c.dataset.id)")
    assert ids and first_id not in ids
    page.go_back()
    expect(page.locator("#like-chip")).to_be_hidden()
    expect(page.locator(".card").first).to_have_attribute("data-id", first_id)


def test_ask_panel_shows_kept_dropped_reasons_and_cited_answer(page, site, tmp_path):
    base, _, _, _ = site
    page.goto(base + "/")
    page.fill("#question", "where is the high whistle?")
    page.click("#ask-go")
    expect(page.locator("#answer")).to_be_visible()
    expect(page.locator("#answer-text")).to_have_text("The whistle [1].")
    cite = page.locator("#answer-text a.cite")
    expect(cite).to_have_attribute("href", "#kept-1")
    expect(page.locator("#kept-1")).to_contain_text("tones.wav")
    expect(page.locator("#kept-1 .reason")).not_to_be_empty()
    assert page.locator("#dropped li").count() >= 1
    expect(page.locator("#dropped li .reason").first).not_to_be_empty()
    cite.click()
    assert page.url.endswith("#kept-1")
    _shot(page, "serve-ask.png", tmp_path)


def test_search_state_lives_in_the_url(page, site):
    base, _, _, _ = site
    page.goto(base + "/?q=castle&m=text&k=10&min=0.1")
    expect(page.locator("#q")).to_have_value("castle")
    expect(page.locator('.mod-chip[data-modality="text"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#k")).to_have_value("10")
    expect(page.locator(".card").first.locator("h3")).to_contain_text("note-castle")
    mods = page.eval_on_selector_all(".card", "cs => cs.map(c => c.dataset.modality)")
    assert set(mods) == {"text"}


def test_keyboard_only_and_every_control_labelled(page, site):
    base, _, _, _ = site
    page.goto(base + "/")
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("a high whistle")
    page.keyboard.press("Enter")
    expect(page.locator(".card").first).to_have_attribute("data-modality", "audio")
    # Tab walks to the modality chips; Space toggles one
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.modality === 'image'"):
            break
    page.keyboard.press("Space")
    expect(page.locator('.mod-chip[data-modality="image"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".card").first).to_have_attribute("data-modality", "image")
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, button, audio, video, textarea')]
        .filter(e => !e.closest('[hidden]') && e.getAttribute('aria-hidden') !== 'true' && e.type !== 'hidden')
        .filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim()))
        .map(e => e.outerHTML.slice(0, 80))""")
    assert unnamed == []


def test_no_layout_break_at_phone_width(browser, site, tmp_path):
    base, _, _, _ = site
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        page.goto(base + "/?q=a+red+picture")
        expect(page.locator(".card").first).to_be_visible()
        _until(page, "[...document.querySelectorAll('#grid img')].every(i => i.complete)")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"page is {overflow}px wider than the phone"
        widest = page.evaluate("Math.max(...[...document.querySelectorAll('.card, header, #ask-panel')].map(e => e.getBoundingClientRect().right))")
        assert widest <= 360
        _shot(page, "serve-phone.png", tmp_path)
    finally:
        ctx.close()


def test_read_key_prompt_opens_a_session(browser, tmp_path_factory):
    with registered():
        folder = tmp_path_factory.mktemp("keyed")
        idx, _ = build_index(folder)
        with uvicorn_server(create_app(idx, Settings(work_dir=folder / "work", read_key=READ_KEY))) as base:
            ctx = browser.new_context()
            page = ctx.new_page()
            try:
                page.goto(base + "/?q=a+red+picture")
                expect(page.locator("#key-dialog")).to_be_visible()
                page.fill("#key", "wrong-key-0123456789")
                page.click("#key-form button")
                expect(page.locator("#key-error")).to_have_text("That key is not right.")
                page.fill("#key", READ_KEY)
                page.click("#key-form button")
                expect(page.locator("#key-dialog")).to_be_hidden()
                expect(page.locator(".card").first).to_be_visible()
                _until(page, "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)")
            finally:
                ctx.close()
