"""Pipeline work yields the CPU to the event loop: worker threads run at a lower priority."""
import os
import sys
import threading

import pytest

from conversations.assessor import WORKER_NICENESS, Assessor


@pytest.mark.asyncio
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux behaviour")
async def test_worker_threads_run_at_lower_priority():
    assessor = Assessor(workers=1)
    try:
        base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        worker = await assessor.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        assert worker == min(19, base + WORKER_NICENESS)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the loop's thread keeps its own
    finally:
        assessor.close()
