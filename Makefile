# Two commands for a newcomer: `make demo` and `make test`. Both set the workspace up first.
SHELL := /bin/bash
ENV := source tools/env.sh &&
PYTEST_ARGS ?=

.PHONY: setup demo test bench lint clean

setup:
	@tools/setup_workspace.sh

demo: setup
	@$(ENV) python -m panoptic_bringup.demo

test: setup
	@$(ENV) python -m pytest $(PYTEST_ARGS)

bench: setup
	@$(ENV) python -m pytest --benchmark-enable --benchmark-only --benchmark-columns=min,median,mean,max,rounds $(PYTEST_ARGS)

clean:
	rm -rf build install log .pytest_cache
