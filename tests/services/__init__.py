"""Real servers for the scale-out tests, started on 127.0.0.1 by session-scoped fixtures
(fixtures.py): Ceph radosgw S3 (ceph.py), Milvus 2.3 (milvus.py), a two-node Ray cluster
(raycluster.py). Each runs in its own process group and is stopped by pid (process.py)."""
