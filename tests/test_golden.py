"""Golden regression tests for the shipped artifacts: the binding (xmodal/bind/default), the
attention reranker (xmodal/rerank/default) and the reference sound banks. On small fixed real
fixtures (tests/golden/measure.py) their retrieval figures must match the values recorded at
release (tests/golden/*.json, written by `tests/golden/record.py`) within the stated tolerance,
so a silent change in decoding, features or weights fails CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden import measure

pytestmark = pytest.mark.slow
GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str) -> dict:
    doc = json.loads((GOLDEN / f"{name}.json").read_text())
    if doc["fixture_packages"] != measure.fixture_packages():
        pytest.fail(f"{name}.json was recorded on {doc['fixture_packages']}, the pins are now "
                    f"{measure.fixture_packages()}: re-record with `{doc['command']}`")
    return doc


def _fetch(package: str) -> Path:
    from xmodal.data.debian import DebianFetchError, fetch_deb

    try:
        return fetch_deb(package)
    except DebianFetchError as exc:
        pytest.skip(f"golden fixture {package} needs apt (or its pinned .deb in xmodal's cache): {exc}")


def _compare(name: str, want: dict, got: dict, tol: dict) -> None:
    problems = []
    for metric, value in want["metrics"].items():
        if abs(got["metrics"][metric] - value) > tol["metric"]:
            problems.append(f"{metric} {got['metrics'][metric]:.3f} (recorded {value:.3f})")
    moved = sum(a != b for a, b in zip(want["ranks"], got["ranks"])) / len(want["ranks"])
    if moved > tol["moved_queries"]:
        problems.append(f"{moved:.0%} of the queries moved their relevant item")
    assert not problems, f"{name}: " + "; ".join(problems) + f" (tolerance {tol}; re-record only if the change is intended)"


@pytest.fixture(scope="module")
def stamps_measured():
    return measure.stamps_measurements(_fetch(measure.STAMPS_DEB))


def test_sound_banks_are_reproduced_and_bridge_as_recorded():
    golden = _golden("sound-bank")
    got = measure.sound_bank(_fetch(measure.SCRATCH_DEB))
    for version, want in golden["banks"].items():
        assert got[version]["min_cosine_to_shipped_rows"] >= golden["tolerance"]["min_cosine"], (
            f"{version}: today's decoding + embedder no longer reproduce the shipped bank "
            f"(min cosine {got[version]['min_cosine_to_shipped_rows']:.4f}); rebuild it with `xmodal data sound-bank`")
        _compare(f"sound bank {version}", want, got[version], golden["tolerance"])


@pytest.mark.parametrize("artifact", ["binding", "reranker"])
@pytest.mark.parametrize("task", ["t2i", "t2a"])
def test_shipped_artifact_retrieves_as_recorded(artifact, task, stamps_measured):
    golden = _golden(artifact)
    _compare(f"{artifact} {task}", golden["sets"][task], stamps_measured[artifact][task], golden["tolerance"])
