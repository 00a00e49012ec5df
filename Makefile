# Neuroplex: `make run` to start a server, `make test` for the whole test suite.
SWIFT ?= swift
CONFIG ?= debug
DATA_DIR ?= ./neuroplex-data
PORT ?= 8080
# Acceptance checks of the resolved issues, run against a real server by `make test` when ../shared is present.
ACCEPTANCE ?= foundation

.PHONY: run build test unit-test acceptance bootstrap bench clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build -c $(CONFIG) --product neuroplex

run: build
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/neuroplex serve --data-dir $(DATA_DIR) --port $(PORT)

test: bootstrap unit-test acceptance

unit-test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel

acceptance:
	@if [ -d ../shared/acceptance ]; then \
	  $(SWIFT) build --product neuroplex && \
	  for check in $(ACCEPTANCE); do \
	    echo "== acceptance: $$check"; python3 ../shared/acceptance/$$check.py || exit 1; \
	  done; \
	else echo "acceptance: ../shared/acceptance not found, skipped"; fi

bench: bootstrap
	bench/http.sh

clean:
	rm -rf .build
