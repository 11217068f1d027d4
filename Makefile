.PHONY: run test bench

# Run the service (until the chat channels land: the CLI demo on the bundled sample photo).
run:
	scripts/setup.sh
	.venv/bin/acnebot demo

# Run the whole test suite (sets everything up first).
test:
	scripts/setup.sh test,train
	.venv/bin/python -m pytest

bench:
	scripts/setup.sh test,train
	.venv/bin/python bench/bench_pipeline.py
