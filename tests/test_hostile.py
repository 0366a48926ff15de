"""Hostile input through the decode workers: bombs, external references, lying files, random
bytes, multichannel audio. Every file ends as a clear per-file error or a correct decode, within
its budget, without reading a secret or sending a request; a decoder that crashes or hangs costs
only its own worker.

The corpus is generated here (tests/mediagen.py `hostile_corpus`), small on disk: bombs are
scaled down and paired with proportionally lower limits. benchmarks/hostile.py runs the
full-size corpus and measures time and memory per file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from crashkit import Listener
from mediagen import hostile_corpus, hostile_limits, make_audio, make_multichannel_audio, make_text
from xmodal.media.pool import DecodeJob, DecodePool
from xmodal.media import Limits

SECRET = "XMODAL-SECRET-7f3a9c"


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    """Every corpus file decoded by a two-worker pool: (cases, outcomes, network hits)."""
    root = tmp_path_factory.mktemp("hostile")
    listener = Listener()
    try:
        cases = hostile_corpus(root, SECRET, listener.port)
        with DecodePool(hostile_limits(), workers=2) as pool:
            futures = [pool.submit(DecodeJob(str(c.path))) for c in cases]
            outcomes = [f.result() for f in futures]
    finally:
        listener.close()
    return cases, outcomes, listener.hits


def _check(case, outcome) -> str | None:
    """Why this outcome is wrong for this case (None when right)."""
    kind, _, words = case.expect.partition(":")
    if kind == "ok":
        if outcome.error is not None:
            return f"expected {words}, failed: {outcome.error}"
        if outcome.media.modality.value != words:
            return f"expected {words}, decoded as {outcome.media.modality.value}"
        return None
    if outcome.error is None:
        return f"expected an error, decoded as {outcome.media.modality.value}"
    if words and words not in outcome.error:
        return f"expected an error naming {words!r}, got: {outcome.error}"
    return None


@pytest.mark.slow  # builds and decodes the whole corpus (~90 files, bombs included)
def test_every_hostile_file_is_a_clear_error_or_decoded_correctly(decoded):
    cases, outcomes, _ = decoded
    wrong = [f"{c.path.name} ({c.kind}): {why}" for c, o in zip(cases, outcomes) if (why := _check(c, o))]
    assert wrong == []
    assert len(cases) >= 80


@pytest.mark.slow  # builds and decodes the whole corpus (~90 files, bombs included)
def test_no_file_needed_a_crash_kill_or_more_than_its_budget(decoded):
    cases, outcomes, _ = decoded
    limits = hostile_limits()
    for c, o in zip(cases, outcomes):
        assert o.error is None or ("crashed" not in o.error and "budget" not in o.error), (c.path.name, o.error)
        assert o.seconds <= limits.decode_seconds(c.path.stat().st_size), (c.path.name, o.seconds)
        assert o.peak_rss <= limits.max_decode_memory, (c.path.name, o.peak_rss)


@pytest.mark.slow  # builds and decodes the whole corpus (~90 files, bombs included)
def test_no_secret_is_read_and_no_request_leaves(decoded):
    cases, outcomes, hits = decoded
    assert hits == 0
    for c, o in zip(cases, outcomes):
        if o.media is None:
            continue
        assert SECRET not in o.media.text and all(SECRET not in t for t in o.media.page_texts), c.path.name
        for im in o.media.images:  # the secret picture is pure green: no rendering may hold it
            a = np.asarray(im.convert("RGB"), dtype=np.int16)
            green = (a[..., 1] > 200) & (a[..., 0] < 60) & (a[..., 2] < 60)
            assert green.mean() < 0.01, c.path.name


@pytest.mark.slow  # builds and decodes the whole corpus (~90 files, bombs included)
def test_text_under_a_binary_extension_and_random_bytes_are_never_text(decoded):
    cases, outcomes, _ = decoded
    for c, o in zip(cases, outcomes):
        if c.kind in ("random bytes", "lying container") and o.media is not None:
            assert o.media.modality.value != "text", c.path.name


def test_multichannel_audio_is_downmixed_not_a_crash(tmp_path):
    """7.1 audio made PyAV's planar conversion read past its plane pointers: exit 139, no name."""
    f = make_multichannel_audio(tmp_path / "surround.flac", channels=8, seconds=1.0)
    script = f"import xmodal.media as m; a = m.load({str(f)!r}).audio; print(a.shape[0], round(float(abs(a).max()), 2))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-500:]}"
    n, peak = out.stdout.split()
    assert 15000 <= int(n) <= 17000 and 0.3 < float(peak) <= 1.0  # 1 s at 16 kHz, the sine survives the mean


CRASHY = textwrap.dedent(
    """
    # a decode worker whose decoder misbehaves on cue (by file name): segfault, hang, balloon
    import os, signal, sys, time
    import av, PIL.Image  # imported before the worker says ready, so the budget times decoding only
    import xmodal.media.loader as loader
    real = loader.load
    def load(path, limits):
        name = os.path.basename(str(path))
        if "segfault" in name:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "hang" in name:
            time.sleep(3600)
        if "balloon" in name:
            hog = bytearray(4 << 30)
        return real(path, limits)
    loader.load = load
    from xmodal.media.worker import main
    main(sys.argv[1:])
    """
)


@pytest.fixture
def crashy_worker(tmp_path):
    f = tmp_path / "crashy_worker.py"
    f.write_text(CRASHY)
    return [sys.executable, str(f)]


@pytest.mark.slow  # waits out decode/lock time budgets (seconds)
def test_a_crashing_hanging_or_ballooning_decoder_costs_one_file(tmp_path, crashy_worker):
    names = ["a.wav", "segfault.wav", "b.wav", "hang.wav", "c.wav", "balloon.wav", "d.wav"]
    for n in names:
        make_audio(tmp_path / n, seconds=0.5)

    def run(limits, which):
        with DecodePool(limits, workers=2, worker_argv=crashy_worker) as pool:
            outcomes = {n: f.result() for n, f in [(n, pool.submit(DecodeJob(str(tmp_path / n)))) for n in which]}
            return outcomes, pool.restarts

    # the clock: a short time budget stops the hang (and only the hang)
    outcomes, restarts = run(Limits(max_decode_seconds=3.0), [n for n in names if n != "balloon.wav"])
    assert restarts == 2
    assert {n for n, o in outcomes.items() if o.error is None} == {"a.wav", "b.wav", "c.wav", "d.wav"}
    assert "crashed (SIGSEGV" in outcomes["segfault.wav"].error
    assert "time budget" in outcomes["hang.wav"].error and "Limits.max_decode_seconds" in outcomes["hang.wav"].error
    assert outcomes["hang.wav"].seconds < 6
    # the memory: a generous clock (a loaded machine fills memory slowly), a small memory budget
    outcomes, restarts = run(Limits(max_decode_seconds=300.0, max_decode_memory=256 * 2**20), ["a.wav", "balloon.wav", "b.wav"])
    assert restarts == 1 and outcomes["a.wav"].error is None and outcomes["b.wav"].error is None
    assert "memory budget" in outcomes["balloon.wav"].error and "Limits.max_decode_memory" in outcomes["balloon.wav"].error


def test_chunked_pool_puts_the_rest_of_a_crashed_chunk_back(tmp_path, crashy_worker):
    names = [f"{i}.wav" for i in range(6)]
    names[2] = "2-segfault.wav"
    for n in names:
        make_audio(tmp_path / n, seconds=0.3)
    with DecodePool(Limits(), workers=1, chunk=4, worker_argv=crashy_worker) as pool:
        outcomes = [pool.submit(DecodeJob(str(tmp_path / n))).result() for n in names]
    assert [o.error is None for o in outcomes] == [True, True, False, True, True, True]


def test_pool_leaves_no_process_behind(tmp_path):
    make_text(tmp_path / "a.txt", "hello")
    pool = DecodePool(Limits(), workers=2)
    assert pool.decode(DecodeJob(str(tmp_path / "a.txt"))).media.text == "hello"
    pids = [w.proc.pid for w in pool._procs]
    assert pids
    pool.close()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_workers_die_with_a_killed_parent(tmp_path):
    """kill -9 of the process that owns the pool must not leave decoders running."""
    make_text(tmp_path / "a.txt", "hello")
    script = textwrap.dedent(
        f"""
        from xmodal.media.pool import DecodePool, DecodeJob
        pool = DecodePool(workers=2)
        pool.decode(DecodeJob({str(tmp_path / "a.txt")!r}))
        print(" ".join(str(w.proc.pid) for w in pool._procs), flush=True)
        import time; time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    proc.kill()
    proc.wait(timeout=30)
    import time

    deadline = time.time() + 10
    while time.time() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in pids)


def test_big_file_is_refused_before_it_is_hashed(tmp_path, monkeypatch):
    """Files over Limits.max_file_bytes used to be hashed (read whole) before the size check."""
    import xmodal.media as media
    from xmodal.media.worker import run_job

    big = tmp_path / "huge.mp4"
    with open(big, "wb") as f:  # sparse: no disk used
        f.truncate(2 * 2**30 + 1)
    hashed = []
    monkeypatch.setattr(media, "content_hash", lambda p: hashed.append(p) or "x")
    out = run_job(DecodeJob(str(big)), Limits())
    assert "Limits.max_file_bytes" in out.error and hashed == []


@pytest.mark.slow  # waits out decode/lock time budgets (seconds)
def test_idle_workers_are_let_go_and_come_back_on_demand(tmp_path):
    make_text(tmp_path / "a.txt", "hello")
    with DecodePool(Limits(), workers=2, idle_s=0.3) as pool:
        assert pool.decode(DecodeJob(str(tmp_path / "a.txt"))).media.text == "hello"
        pids = [w.proc.pid for w in pool._procs]
        import time

        deadline = time.monotonic() + 15  # idle_s is 0.3 s; a loaded machine may wake the reaper late
        while (pool._procs or any(Path(f"/proc/{p}").exists() for p in pids)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool._procs == [] and not any(Path(f"/proc/{p}").exists() for p in pids)
        assert pool.decode(DecodeJob(str(tmp_path / "a.txt"))).media.text == "hello"
