import sys
from pathlib import Path

# tests import the media generators in tests/mediagen.py as a plain module
sys.path.insert(0, str(Path(__file__).parent))

# real servers for the scale-out tests (Ceph radosgw S3, Milvus, a Ray cluster), session-scoped
from services.fixtures import ceph_s3, milvus_server, pytest_terminal_summary, ray_cluster  # noqa: F401
