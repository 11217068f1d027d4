.PHONY: run test bench lock

# Run the service: with no messenger token, the local web chat on http://127.0.0.1:8080 on SQLite.
run:
	scripts/setup.sh
	.venv/bin/acnebot serve

# Run the whole test suite (sets everything up first).
test:
	scripts/setup.sh test,train
	.venv/bin/python -m pytest

bench:
	scripts/setup.sh test,train
	.venv/bin/python bench/bench_pipeline.py

# Regenerate the lock files every install takes (requirements/*.txt) from pyproject.toml after a change to its
# dependencies; commit them. UPGRADE=1 takes the newest releases pyproject allows. See scripts/lock.sh.
lock:
	scripts/lock.sh
