"""What confines a parser worker process: its own process group, death with its parent, and
per-document limits on memory and CPU time (resource.setrlimit). Linux.

A worker is reused across documents (spawning one and loading unstructured, spaCy and the
encoder costs seconds), so the limits are set around each document: the address space a
parse may add to the warmed worker, and the CPU seconds it may use from now on. Parsers
(and the `soffice` they start for .doc files) run in the worker's process group, so killing
the group stops all of them.
"""

import ctypes
import os
import resource
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ParseLimits:
    timeout_s: float = 120.0  # wall clock, enforced by the parent
    memory_mb: int = 1024  # address space one document may add to the worker
    zip_max_mb: int = 200  # DOCX/XLSX: declared uncompressed size of all members
    zip_max_ratio: int = 100  # DOCX/XLSX: uncompressed / compressed, for members above 1 MB


class ParseTooLarge(MemoryError):
    """The document needed more memory than its limit (the worker is replaced after it)."""


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the thread that started it exits (a SIGKILLed service)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl: nobody would signal us
        os._exit(1)


def _start_group_watchdog() -> None:
    """Fork a tiny process that kills this worker's whole group once the worker is gone.

    PDEATHSIG reaches the worker only, not the `soffice` it may be running: when the worker
    dies, the watchdog reads EOF on a pipe only the worker writes to, and SIGKILLs the group
    (itself included), so no converter outlives its worker.
    """
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        try:
            os.close(write_end)
            # Hold none of the worker's other descriptors (its parent waits on their EOF).
            os.closerange(0, read_end)
            os.closerange(read_end + 1, 65536)
            while os.read(read_end, 1):
                pass
            os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os._exit(0)
    os.close(read_end)
    os.set_inheritable(write_end, False)
    globals()["_watchdog_pipe"] = write_end  # kept open for the worker's lifetime


def confine_worker(parent_pid: int) -> None:
    """Runs first in a new worker: a session (and process group) of its own, led by it."""
    os.setsid()
    _die_with_parent(parent_pid)
    _start_group_watchdog()


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _capped(value: int, hard: int) -> int:
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


@contextmanager
def limited(limits: ParseLimits) -> Iterator[None]:
    """Memory and CPU limits for one document in this (reused) worker.

    RLIMIT_AS makes an allocation beyond `memory_mb` fail (MemoryError, reported as "too
    large to parse") instead of swapping the host or summoning the OOM killer. RLIMIT_CPU
    (SIGXCPU, which kills the worker) backs up the parent's wall-clock deadline with a
    margin, for a parent that can no longer enforce it. Soft limits only: the hard ones stay
    unlimited, so they can be lifted again for the next document.
    """
    _, as_hard = resource.getrlimit(resource.RLIMIT_AS)
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    memory = _capped(_address_space_bytes() + limits.memory_mb * 1024 * 1024, as_hard)
    cpu = _capped(int(_cpu_seconds() + limits.timeout_s * 2) + 5, cpu_hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, as_hard))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (as_hard, as_hard))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))


def kill_group(pid: int) -> None:
    """SIGKILL a worker's process group (the worker, its converters, its watchdog)."""
    if pid == os.getpgrp():  # never our own group (a worker that had not yet left it)
        return
    with suppress(ProcessLookupError, PermissionError):  # gone already
        os.killpg(pid, signal.SIGKILL)
