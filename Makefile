# Neuroplex: `make run` to start a server, `make test` for the whole test suite.
SWIFT ?= swift
CONFIG ?= debug
# Empty by default so that NEUROPLEX_* variables and a config file apply; the server's own defaults are
# ./neuroplex-data and port 8080.
DATA_DIR ?=
PORT ?=
# Acceptance checks of the resolved issues, run against a real server by `make test` when ../shared is present.
ACCEPTANCE ?= foundation memory ml_lifecycle ml_serving sentinel

.PHONY: run build test unit-test acceptance bootstrap bench clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build -c $(CONFIG) --product neuroplex

run: build
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/neuroplex serve $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(PORT),--port $(PORT))

test: bootstrap unit-test acceptance

unit-test:
	$(SWIFT) build --build-tests
	@# A test that hangs fails after its suite's time limit (3 minutes) with its name; the whole run after 20.
	@# Line-buffered, so that what was printed before a hang is in the log.
	scripts/within 20m stdbuf -oL -eL $(SWIFT) test --skip-build --parallel

acceptance:
	@if [ -d ../shared/acceptance ]; then \
	  $(SWIFT) build --product neuroplex && \
	  for check in $(ACCEPTANCE); do \
	    echo "== acceptance: $$check"; python3 ../shared/acceptance/$$check.py || exit 1; \
	  done && \
	  echo "== integration: real Redis clients" && python3 Tests/Integration/resp_clients.py && \
	  echo "== integration: Open Inference Protocol with tritonclient" && python3 Tests/Integration/oip_clients.py && \
	  echo "== integration: NetFlow v5/v9 and IPFIX from softflowd" && python3 Tests/Integration/netflow_softflowd.py; \
	else echo "acceptance: ../shared/acceptance not found, skipped"; fi

bench: bootstrap
	bench/http.sh
	bench/resp.sh async

clean:
	rm -rf .build
