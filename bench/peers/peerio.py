"""Shared helpers of the peer scripts in this folder (import before jax / numpy)."""
import json
import os

XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def one_thread(pin):
    """Make XLA and the BLAS libraries single-threaded and, when `pin`, pin this process to the
    last CPU it may run on. Must run before jax or numpy is imported. Returns the pinned CPU
    (None when not pinned)."""
    os.environ["XLA_FLAGS"] = XLA_ONE_THREAD
    os.environ.update({k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    if not pin:
        return None
    cpu = sorted(os.sched_getaffinity(0))[-1]
    os.sched_setaffinity(0, {cpu})
    return cpu


def write_json(path, doc):
    """Write `doc` as JSON to `path` atomically (temporary file + rename); returns the absolute path."""
    out = os.path.abspath(path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    os.replace(tmp, out)
    return out
