"""Slow work (photo checks, assessments, pictures, exports), on its own floor between the dialog and the pipeline.

    pool.py       WorkerPool: the worker processes that run any job and know none (admission, affinity, restarts)
    process.py    a worker process's life: fork-server preload, lower priority, model threads, warm-up
    lifeline.py   a worker dies with the process that started it (Linux prctl)
    jobs.py       what runs inside a worker: the photo check, the assessment, the charts (pipeline calls)
    pictures.py   pictures of stored check-ins, re-annotated from their stored results (also run in workers)
    tasks.py      the asyncio tasks the chat process starts for slow work, kept until they end

The durable queue itself is a table (storage/repositories/work.py): the dialog writes a row in the turn's
transaction, and whoever has a free worker claims it. Nothing here imports the dialog: a worker process loads
the pipeline and these modules only.
"""
