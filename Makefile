# Two commands: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VPY := .venv/bin/python

.PHONY: venv test demo bench workflows clean

venv:
	@scripts/setup_venv.sh $(PYTHON)

test: venv
	$(VPY) -m pytest tests -rs

demo: venv
	$(VPY) scripts/demo.py

bench: venv
	$(VPY) bench/noise_bench.py

workflows: venv
	$(VPY) scripts/build_workflows.py

clean:
	rm -rf .venv .pytest_cache
