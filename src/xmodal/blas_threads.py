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
import sys
import threading
from typing import Any, Iterator

_controller: Any = None
_scanned_modules = -1  # len(sys.modules) when the loaded libraries were last scanned
_lock = threading.Lock()


def _get_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, scanned again (~20 ms) after new Python
    modules were imported, since an import (torch, scipy, ...) may load another BLAS."""
    global _controller, _scanned_modules
    if _controller is False:
        return False
    if _controller is None or len(sys.modules) != _scanned_modules:
        with _lock:
            if _controller is None or len(sys.modules) != _scanned_modules:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    _controller = False
                    return False
                _controller = ThreadpoolController()
                _scanned_modules = len(sys.modules)
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
