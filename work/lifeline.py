"""Imported by the worker processes' fork server only (the first of work.process.PRELOAD), never by the chat
process: the fork server, and each worker through work.process.start, is killed when its parent dies.

Python's worker processes outlive a chat process killed with -9 (each holds the write end of its own job queue,
so it never sees the end of it): without this, every kill -9 of `acnebot serve` would leave its fork server and
workers behind, holding their memory. Linux only (prctl PR_SET_PDEATHSIG); elsewhere nothing changes.
"""
from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the parent died before the line above: nobody would send the signal
        os._exit(1)


die_with_parent()
