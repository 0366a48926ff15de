import sys
from pathlib import Path

# tests import the media generators in tests/mediagen.py as a plain module
sys.path.insert(0, str(Path(__file__).parent))

# real servers for the scale-out tests (Ceph radosgw S3, Milvus, a Ray cluster), session-scoped
from services.fixtures import ceph_s3, milvus_server, pytest_terminal_summary, ray_cluster  # noqa: F401


def pytest_collection_modifyitems(config, items):
    """Tests that start real servers or a real browser are slow too: `pytest -m "not slow"` stays
    the fast lane."""
    import pytest

    for item in items:
        heavy = item.get_closest_marker("services") or item.get_closest_marker("browser")
        if heavy and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
