"""The pipeline runs in worker processes: at a lower priority than the chat process, replaced when one dies under a
job (the job runs once more and its caller gets one result), and never loaded into the chat process itself."""
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pipeline.types import Metadata
from work import jobs, process
from work.pool import WorkerDied, WorkerPool


def _sleep_then_pid(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def workers(count: int) -> Iterator[WorkerPool]:
    pool = WorkerPool(workers=count)
    try:
        yield pool
    finally:
        pool.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process niceness as Linux applies it")
@pytest.mark.asyncio
async def test_workers_are_other_processes_at_lower_priority():
    with workers(1) as pool:
        pid, niceness = await pool.run(process.process_info)
        assert pid != os.getpid()
        assert niceness == min(19, os.getpriority(os.PRIO_PROCESS, 0) + process.WORKER_NICENESS)


@pytest.mark.asyncio
async def test_a_worker_killed_under_an_assessment_is_replaced_and_the_assessment_answers_once(face_photo,
                                                                                             shipped_model):
    with workers(1) as pool:
        pid, _ = await pool.run(process.process_info)
        assert not await pool.warm()
        os.kill(pid, signal.SIGSTOP)  # the worker holds the assessment it is given, however fast it would be
        job = asyncio.ensure_future(pool.run(jobs.assess, [(face_photo, None)], Metadata(), "en", bounded=True))
        await asyncio.sleep(0.3)  # the assessment is handed to the worker
        assert not job.done()
        os.kill(pid, signal.SIGKILL)
        outcome = await job
        assert outcome.ok and outcome.result.grade and len(outcome.annotated) == 1
        new_pid, _ = await pool.run(process.process_info)
        assert new_pid != pid


@pytest.mark.asyncio
async def test_a_job_that_kills_every_worker_it_meets_is_given_up_and_the_next_one_runs():
    with workers(1) as pool:
        with pytest.raises(WorkerDied):
            await pool.run(_die)
        assert await pool.run(_sleep_then_pid, 0) != os.getpid()


@pytest.mark.asyncio
async def test_a_free_worker_takes_the_next_job_while_another_is_busy():
    with workers(2) as pool:
        long = asyncio.ensure_future(pool.run(_sleep_then_pid, 1.0))
        await asyncio.sleep(0.05)
        short = await pool.run(_sleep_then_pid, 0)
        assert not long.done()  # it did not wait behind the long job
        assert short != await long


def test_the_chat_process_does_not_load_the_pipeline():
    """The service's process imports the transports, the engine and the flows without MediaPipe, onnxruntime,
    OpenCV or matplotlib (each worker has them; the chat process stays small)."""
    code = ("import sys, bot.service.app, bot.service.worker, bot.telegram.transport, bot.wechat.transport,"
            " bot.webchat, bot.console, conversations.jobs, conversations.export;"
            "print(sorted(m for m in ('mediapipe', 'onnxruntime', 'cv2', 'matplotlib', 'pipeline.assess')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _dialog_modules_loaded() -> list[str]:
    return sorted(m for m in sys.modules if m in ("conversations.engine", "conversations.flows")
                  or m.startswith("conversations.flows."))


@pytest.mark.asyncio
async def test_a_worker_process_loads_neither_the_engine_nor_the_flows(face_photo, shipped_model):
    """The jobs a worker runs (the photo check, the assessment, the pictures, the export's ZIP) and everything
    its fork server preloads leave the dialog out of the worker process."""
    from datetime import date

    from conversations.export import ExportData, build_export
    from storage.columns import utcnow
    from work import pictures

    with workers(1) as pool:
        verdict = await pool.run(jobs.check_photo, face_photo, None)
        outcome = await pool.run(jobs.assess, [(face_photo, None)], Metadata(), "en")
        visit = pictures.VisitPhoto(face_photo, outcome.result.lesions, verdict.rotated, "2026-12-04")
        assert (await pool.run(pictures.side_by_side, visit, visit))[:2] == b"\xff\xd8"
        shot = pictures.RegionPhoto(face_photo, None, date(2026, 12, 4))
        assert (await pool.run(pictures.first_vs_latest, shot, shot, "forehead"))[:2] == b"\xff\xd8"
        assert (await pool.run(build_export, ExportData("en", utcnow(), (), {})))[:2] == b"PK"
        assert verdict.ok and outcome.ok
        assert await pool.run(_dialog_modules_loaded) == []
