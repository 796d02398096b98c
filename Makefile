# Two commands for a newcomer: `make demo` and `make test`. Both set the workspace up first.
SHELL := /bin/bash
ENV := source tools/env.sh &&
PYTEST_ARGS ?=

.PHONY: setup demo test bench bench-replay lint clean

setup:
	@tools/setup_workspace.sh

demo: setup
	@$(ENV) python -m panoptic_bringup.demo

test: setup
	@$(ENV) python -m pytest $(PYTEST_ARGS)

bench: setup
	@$(ENV) python -m pytest --benchmark-enable --benchmark-only --benchmark-columns=min,median,mean,max,rounds $(PYTEST_ARGS)

# End-to-end latency through the ROS graph (docs/benchmarks.md): a 10 Hz drive at sensor rate and closed loop.
# Fast DDS gets a shared-memory segment large enough for whole sweeps and images (without it most are lost).
BENCH_DRIVE := out/bench/drive/bags/2000
bench-replay: export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/src/panoptic_bringup/config/fastdds_large_messages.xml
bench-replay: setup
	@$(ENV) [ -f $(BENCH_DRIVE)/metadata.yaml ] || panoptic-data generate --seed 2000 --frames 100 --rig hdl32-front \
		--format bag --out out/bench/drive
	@$(ENV) panoptic-bench replay $(BENCH_DRIVE) --rate 1.0 --out out/bench
	@$(ENV) panoptic-bench replay $(BENCH_DRIVE) --rate max --out out/bench

clean:
	rm -rf build install log .pytest_cache
