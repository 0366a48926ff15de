"""`xmodal serve` against the Python API on the same index, in the same run.

    .venv/bin/python benchmarks/serve_bench.py --index ~/.cache/xmodal/demo-index \
        --out benchmarks/results/serve.json [--screenshot docs/serve.png]

Starts the real `xmodal serve` command (its own process, port 0), opens the same index in this
process, then:
* latency: each query through `Index.search` here and through GET /v1/search there, alternately
  (so both see the same machine load), sequential, keep-alive; text queries and image uploads;
* throughput: 10 concurrent HTTP clients for --seconds, requests/s and latency under load;
* memory: the server's RSS after warm-up, after the load, and its peak (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

TEXT_QUERIES = [
    "a frog", "a pig", "a grasshopper", "a blackbird", "in the snow", "a red apple", "an owl at night", "a dolphin",
    "a hat", "a barking dog", "a cup of coffee", "a padlock", "ruins of a castle", "a bird singing", "a camel in the desert",
    "leave the conference", "thank you for calling", "a green lettuce", "a musical instrument", "a fox",
]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary_ms(xs: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p95_ms": round(pct(ms, 95), 2), "mean_ms": round(statistics.mean(ms), 2)}


def proc_status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)  # MiB
    return out


def start_server(index: Path, work: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "XMODAL_API_KEY": "", "XMODAL_READ_KEY": ""}
    proc = subprocess.Popen([sys.executable, "-c", "from xmodal.cli import main; main()", "serve", "--index", str(index),
                             "--port", "0", "--work-dir", str(work), "--no-access-log"], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 180
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "Uvicorn running on" in line:
            url = line.split("running on ")[1].split()[0]
            # keep draining the server's log so it never blocks on a full pipe
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, url
    proc.kill()
    raise SystemExit("xmodal serve did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path.home() / ".cache/xmodal/demo-index")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/serve.json"))
    ap.add_argument("--rounds", type=int, default=5, help="passes over the text queries for latency")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the throughput run")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--screenshot", type=Path, help="also save a screenshot of the page's results for 'a frog'")
    args = ap.parse_args()

    import xmodal

    load_before = os.getloadavg()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"xmodal-serve-bench-{os.getpid()}"
    proc, url = start_server(args.index, work)
    try:
        idx = xmodal.open(args.index)
        # image queries: pictures of the index itself, uploaded as files
        images = [Path(h.path) for h in idx.search("a picture", k=5, modalities=["image"])]
        client = httpx.Client(base_url=url, timeout=120)
        # warm-up both sides: models load lazily on the first query of each kind
        for q in TEXT_QUERIES[:3]:
            idx.search(q, k=args.k)
            client.get("/v1/search", params={"q": q, "k": args.k}).raise_for_status()
        for img in images[:1]:
            idx.search(file=img, k=args.k)
            client.post("/v1/search", params={"k": args.k}, files={"file": (img.name, img.read_bytes())}).raise_for_status()
        rss_warm = proc_status(proc.pid)

        api_t, http_t, took, agree = [], [], [], 0
        for n in range(args.rounds):
            for i, q in enumerate(TEXT_QUERIES):
                timed = {}
                # alternate which side goes first, so neither always runs right after the other
                for side in (("api", "http") if (n + i) % 2 == 0 else ("http", "api")):
                    t0 = time.perf_counter()
                    if side == "api":
                        a = idx.search(q, k=args.k)
                    else:
                        r = client.get("/v1/search", params={"q": q, "k": args.k})
                    timed[side] = time.perf_counter() - t0
                r.raise_for_status()
                api_t.append(timed["api"])
                http_t.append(timed["http"])
                took.append(r.json()["took_ms"] / 1000)
                agree += [x.id for x in a] == [x["id"] for x in r.json()["results"]]
        api_f, http_f = [], []
        for _ in range(max(1, args.rounds // 2)):
            for img in images:
                t0 = time.perf_counter()
                idx.search(file=img, k=args.k)
                api_f.append(time.perf_counter() - t0)
                data = img.read_bytes()
                t0 = time.perf_counter()
                client.post("/v1/search", params={"k": args.k}, files={"file": (img.name, data)}).raise_for_status()
                http_f.append(time.perf_counter() - t0)

        # throughput: N clients, each its own connection, for a fixed time
        lat: list[float] = []
        codes: dict[int, int] = {}
        lock = threading.Lock()
        stop = time.perf_counter() + args.seconds

        def worker(i: int) -> None:
            with httpx.Client(base_url=url, timeout=120) as c:
                j = i
                while time.perf_counter() < stop:
                    q = TEXT_QUERIES[j % len(TEXT_QUERIES)]
                    j += 1
                    t0 = time.perf_counter()
                    r = c.get("/v1/search", params={"q": q, "k": args.k})
                    dt = time.perf_counter() - t0
                    with lock:
                        lat.append(dt)
                        codes[r.status_code] = codes.get(r.status_code, 0) + 1

        t_start = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t_start
        rss_after = proc_status(proc.pid)

        if args.screenshot:
            screenshot(url, args.screenshot)
    finally:
        proc.terminate()
        proc.wait(30)

    result = {
        "index": str(args.index.name), "items": idx.stats()["items"], "k": args.k,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "latency_text": {"python_api": summary_ms(api_t), "http": summary_ms(http_t),
                         # the same requests seen from inside the server, and what HTTP adds to each
                         "server_side": summary_ms(took), "http_overhead": summary_ms([h - t for h, t in zip(http_t, took)]),
                         "same_top_k": f"{agree}/{len(api_t)}"},
        "latency_image_upload": {"python_api": summary_ms(api_f), "http": summary_ms(http_f)},
        "throughput": {"clients": args.clients, "seconds": round(elapsed, 1), "requests": len(lat),
                       "requests_per_s": round(len(lat) / elapsed, 1), "status_codes": codes, **summary_ms(lat)},
        "server_memory_mib": {"rss_after_warmup": rss_warm.get("VmRSS"), "rss_after_load": rss_after.get("VmRSS"),
                              "peak_rss": rss_after.get("VmHWM")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def screenshot(url: str, out: Path) -> None:
    """The results page for a text query, as a user sees it (Debian's chromium, headless)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync", "--disable-quic", "--no-first-run", "--mute-audio"])
        page = b.new_page(viewport={"width": 1280, "height": 820})
        page.goto(f"{url}/?q=a+frog&k=10")
        page.locator(".card").first.wait_for()
        deadline = time.time() + 30
        ready = ("[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0) && "
                 "[...document.querySelectorAll('#grid audio, #grid video')].every(m => m.readyState >= 1)")
        while not page.evaluate(ready):
            if time.time() > deadline:
                break
            time.sleep(0.1)
        out.parent.mkdir(parents=True, exist_ok=True)
        png = page.screenshot()
        b.close()
    import io

    from PIL import Image

    # a palette PNG: a third of the size, and the page's flat colours survive it
    Image.open(io.BytesIO(png)).convert("RGB").quantize(192, dither=Image.Dither.NONE).save(out, optimize=True)


if __name__ == "__main__":
    main()
