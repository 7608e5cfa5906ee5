"""What the numba CPU kernels share (`kernels/mamba/`, `kernels/norm/`, `kernels/rope/`): the lock around numba's
threading layer, the serial twin of a parallel kernel, and the choice between them for torch's thread count."""
import contextlib
import threading
import types

import numba
import torch

LOCK = threading.Lock()  # numba's workqueue threading layer must not be entered by two threads at once
BLOCK = 256  # tokens per parallel work item in the per-token kernels (so batch 1 still uses every thread)


def serial_twin(kernel):
    """The same kernel compiled without `parallel` (its prange runs as a plain loop) and with the GIL released: it
    never enters numba's threading layer, so several Python threads may run it at once (one strand each,
    `dnahnet.infer`), where the parallel kernels take `LOCK`. A renamed copy of the function (`<name>_serial`):
    numba's disk cache is named by the function and keyed by signature and bytecode, not by `parallel`, so the two
    variants of one function would load each other's machine code. The twin keeps the kernel's `fastmath`."""
    f = kernel.py_func
    twin = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial", f.__defaults__, f.__closure__)
    twin.__qualname__ = f.__qualname__ + "_serial"
    return numba.njit(fastmath=kernel.targetoptions.get("fastmath", False), cache=True, nogil=True)(twin)


@contextlib.contextmanager
def kernel_threads(serial_allowed: bool = True):
    """Yields True when the serial twins should run (torch is on one thread and `serial_allowed`): no lock, so
    threads may run kernels side by side. Else takes `LOCK`, gives numba torch's thread count, yields False, and
    puts torch's count back after (numba's OpenMP layer shares torch's OpenMP runtime and resets its count)."""
    threads = torch.get_num_threads()
    if serial_allowed and threads == 1:
        yield True
        return
    with LOCK:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            yield False
        finally:
            torch.set_num_threads(threads)
