.PHONY: run test bench

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
