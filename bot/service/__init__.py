"""The service's processes and the loops each runs.

    app.py           `acnebot serve`: the public application (web chat, webhooks, /healthz) around one Engine,
                     the staff console beside it, and what every replica runs in the background
    worker.py        `acnebot worker`: assessment worker processes alone, taking queued work from the work table
    wiring.py        what both roles are built from: application keys, database, pool and engine, /healthz
    recovery.py      the loop that claims and finishes queued or interrupted work rows (both roles)
    reminders.py     the reminder dispatcher (serve)
    housekeeping.py  retention: expired photos, dedup marks, cache rows (serve)
    maintenance.py   one-off operator commands: photo key rotation, purge
    health.py, metrics.py   /healthz and /metrics

The transports (bot.telegram, bot.wechat, bot.webchat) and the console (bot.console) are packages of their own;
this package wires them to conversations.engine.Engine and work.pool.WorkerPool.
"""
