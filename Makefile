# buildledger: make run starts the whole system; make test runs every test.

GO      ?= go
HOME_DIR ?= .buildledger
BIN     := $(HOME_DIR)/bin/buildledger

.PHONY: run test bench bench-scale chaos deps build vet fuzz clean

## run: install what is missing, build, and start everything on http://localhost:3000
## Jobsets may take path inputs from test/fixtures and read busybox's directory.
run: deps build
	$(BIN) up --home $(HOME_DIR) --listen $${BUILDLEDGER_LISTEN:-127.0.0.1:3000} \
		--input-root $(CURDIR)/test/fixtures \
		--eval-allowed-path $$(if [ -e /usr/bin/busybox ]; then echo /usr/bin; else echo /bin; fi)

build:
	$(GO) build -o $(BIN) ./cmd/buildledger

## test: all tests, against real Postgres, Nix, sshd and Chromium started by the tests
test: deps vet
	test/run-tests.sh

vet:
	$(GO) vet ./...

## bench: the benchmarks named in the issues, printing figures and ratios
bench: deps
	test/run-bench.sh

## bench-scale: the whole system on a nixpkgs-shaped jobset (issue #24): SCALE_JOBS jobs
## (default 100,000) end to end, then replay and scheduler cold start over
## BUILDLEDGER_BENCH_EVENTS events (default 10,000,000). Hours on 2 cores at full size.
bench-scale: deps
	test/run-bench.sh scale

## chaos: CHAOS_TRIALS (default 100) fault trials on the split deployment of
## test/deploy, ending with "chaos: T trials, L lost builds, D duplicated
## events, R replay differences" (docs/reliability.md)
chaos: deps
	test/run-chaos.sh

## fuzz: run every fuzzer for a short while (seeds are kept under testdata/fuzz)
fuzz:
	test/run-fuzz.sh

## deps: install the system packages the project needs (Debian, as root)
deps:
	test/install-deps.sh

clean:
	rm -rf $(HOME_DIR)/bin
