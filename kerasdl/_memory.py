"""Peak memory of a block of code: sampled RSS, child processes included.

`PeakMemory` samples the resident set size of this process every
millisecond while its block runs, and the peak RSS (`VmHWM`) of the child
processes that the block's thread starts (e.g. the TensorFlow conversion
subprocess of an export off the TensorFlow backend).

Why not `RUSAGE_CHILDREN`: a child started by fork or vfork counts the
parent's memory until it calls exec, and Linux keeps that high-water mark
in the child's `ru_maxrss`: a 0.9 GB child of a 2.4 GB process reports
2.4 GB. `/proc/<pid>/status`'s `VmHWM` is the child's own peak since exec.

Example:
>>> with PeakMemory() as peak:
...     kerasdl.export(model, "savedmodels/m", formats=["tflite"])
>>> peak.process_bytes, peak.growth_bytes, peak.children_bytes
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import threading

__all__ = ["PeakMemory", "release_freed_memory", "rss_bytes"]

_SAMPLE_SECONDS = 0.001


def rss_bytes() -> int | None:
    """This process's resident set size in bytes; None without /proc."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def _children(tid: int) -> list[int]:
    """Process ids of the live children of thread `tid` of this process."""
    try:
        with open(f"/proc/self/task/{tid}/children") as children:
            return [int(pid) for pid in children.read().split()]
    except (OSError, ValueError):
        return []


def _command_line(pid: int | str) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return None


def _own_peak(pid: int) -> int | None:
    """The peak RSS of process `pid` since its exec (VmHWM), None once gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _max_rss(who) -> int:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if os.uname().sysname == "Darwin" else 1024
    return resource.getrusage(who).ru_maxrss * scale


def release_freed_memory() -> None:
    """Returns freed heap pages to the operating system (glibc; else only gc).

    TensorFlow's converters free most of what they allocate, but glibc keeps
    the freed pages in its (per-thread) arenas, where the next converter
    rarely reuses them: the process's RSS only grows. `malloc_trim(0)` hands
    them back (an export of MobileNetV2 keeps ~0.2 GB per TFLite conversion
    without it), so each step of a long job peaks on its own.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Context manager: the peak memory of its block.

    Attributes (after the block):
        start_bytes: int. This process's RSS at the start of the block,
            after freed memory went back to the OS (what was there before).
        process_bytes: int. Peak RSS of this process during the block.
        growth_bytes: int. `process_bytes` minus the RSS at the start (>= 0).
        children_bytes: int. Peak RSS of the largest child process that
            the block's thread started (0 if none), read every millisecond
            from its VmHWM: exact for children that live longer than that.
            Without /proc: `RUSAGE_CHILDREN` of the children that ended
            during the block, an upper bound (it includes this process's
            RSS when they were started).
        peak_bytes: int. max(process_bytes, children_bytes).
        source: str. How the process's peak was measured.
    """

    def __init__(self):
        self.start_bytes = self.process_bytes = 0
        self.growth_bytes = self.children_bytes = 0
        self.peak_bytes = 0
        self.source = ""
        self._stop = threading.Event()
        self._thread = None

    def _sample(self) -> None:
        while not self._stop.wait(_SAMPLE_SECONDS):
            self.process_bytes = max(self.process_bytes, rss_bytes())
            for pid in _children(self._tid):
                if pid not in self._execed:
                    # Until its exec, a (v)forked child shows this process's
                    # memory, command line included.
                    if _command_line(pid) in (self._command, None):
                        continue
                    self._execed.add(pid)
                peak = _own_peak(pid)
                if peak is not None:
                    self.children_bytes = max(self.children_bytes, peak)

    def __enter__(self):
        # Earlier garbage does not count as this block's.
        release_freed_memory()
        self._children_before = _max_rss(resource.RUSAGE_CHILDREN)
        self._tid = threading.get_native_id()
        self._command, self._execed = _command_line("self"), set()
        start = rss_bytes()
        if start is not None:
            self.source = "process RSS, sampled every 1 ms"
            self.start_bytes = self.process_bytes = start
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            # The lifetime peak: its growth is a lower bound when an earlier
            # peak was higher.
            self.source = "the process's lifetime peak RSS (lower bound)"
            self.start_bytes = _max_rss(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.process_bytes = max(self.process_bytes, rss_bytes())
        else:
            self.process_bytes = _max_rss(resource.RUSAGE_SELF)
        self.growth_bytes = max(self.process_bytes - self.start_bytes, 0)
        if self._thread is None:
            children = _max_rss(resource.RUSAGE_CHILDREN)
            self.children_bytes = children if children > self._children_before else 0
        self.peak_bytes = max(self.process_bytes, self.children_bytes)
        return False
