"""A worker process's life, from the fork server that starts it to the warm-up of its models. The pool
(work/pool.py) starts the processes; nothing here knows a job."""
from __future__ import annotations

import os

# Imported by the worker processes' fork server before any worker starts: each new worker then starts in
# milliseconds, with the libraries already in memory, and loads its models itself.
PRELOAD = ["work.lifeline", "pipeline.assess", "pipeline.render", "pipeline.report", "pipeline.pose", "work.jobs",
           "work.pictures"]
# Workers run at a lower CPU priority than the chat process: on a full machine its event loop otherwise waits
# for CPU while photos are assessed (bench/bench_conversations.py measures the other patients' turns).
WORKER_NICENESS = 10


def start(model_threads: int) -> None:
    """A worker process's first step: die with the fork server (which dies with the chat process), lower its
    priority (threads it starts later, onnxruntime's among them, inherit it; where that is not allowed it stays
    as it is), and give the models its share of the cores unless ACNEBOT_MODEL_THREADS says otherwise (every
    worker's onnxruntime would otherwise start a thread per core, and the workers would fight over them)."""
    from work.lifeline import die_with_parent

    die_with_parent()
    lower_priority()
    os.environ.setdefault("ACNEBOT_MODEL_THREADS", str(model_threads))


def lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS))
    except (AttributeError, OSError):
        pass


def warm() -> str | None:
    """Loads the models now rather than at the first photo; the reason when they cannot be loaded."""
    from pipeline.assess import load_models
    from pipeline.classifier import ModelError

    try:
        load_models()
    except ModelError as error:
        return str(error)
    return None


def process_info() -> tuple[int, int]:
    """(pid, niceness) of the worker that runs it: what the tests and the benchmark look at."""
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)
