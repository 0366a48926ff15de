"""Run xmodal's own numpy linear algebra on one BLAS thread.

numpy's OpenBLAS starts one thread per core for every matrix product. xmodal's products are small
(a batch's binding heads, a query against ≤50k vectors) and run while ONNX Runtime, decoders and
Lance already keep the cores busy; there the extra BLAS thread mostly waits for a core, and the
product measured 5–10× slower in CPU time than on one thread (benchmarks/README.md, "BLAS
threads"). `one_blas_thread()` limits BLAS to one thread for the duration of a block and restores
the previous setting after; it is a no-op when threadpoolctl is not installed.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

_controller: Any = None
_lock = threading.Lock()


def _get_controller() -> Any:
    global _controller
    if _controller is None:
        with _lock:
            if _controller is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    _controller = False
                else:
                    _controller = ThreadpoolController()  # scans the loaded libraries once (~20 ms)
    return _controller


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS libraries (OpenBLAS, MKL) to one thread inside the block."""
    ctl = _get_controller()
    if not ctl:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield
