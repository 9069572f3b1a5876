# Two commands: `make demo` and `make test`. Both create .venv first.
# `make test-compat` runs all test tiers against ComfyUI 0.3.64 (see scripts/compat_run.sh).
PYTHON ?= python3
VPY := .venv/bin/python

.PHONY: venv test test-compat demo bench workflows clean

venv:
	@scripts/setup_venv.sh $(PYTHON)

test: venv
	$(VPY) -m pytest tests -rs

test-compat: venv
	scripts/compat_run.sh

demo: venv
	$(VPY) scripts/demo.py

bench: venv
	$(VPY) bench/noise_bench.py
	$(VPY) bench/cil_bench.py
	$(VPY) bench/metrics_bench.py

workflows: venv
	$(VPY) scripts/build_workflows.py

clean:
	rm -rf .venv .pytest_cache
