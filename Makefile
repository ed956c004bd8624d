# `make test` is the one command that runs every test: it installs what the tests need, then checks formatting,
# lints and runs the whole suite. Benchmarks live in bench/ and are not part of it.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test deps fmt-check clippy unit readme conformance-regress conformance demo fuzz fuzz-smoke deb

test: deps fmt-check clippy unit readme conformance-regress fuzz-smoke

deps:
	@scripts/install-deps.sh

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

readme:
	@scripts/readme-check.sh

# HAProxy's own regression suite (HAPROXY_REGTESTS, by default ../shared/haproxy-reg-tests beside the checkout):
# `make test` runs the tests listed in conformance/passing.txt and fails when one stops passing; `make conformance`
# runs them all and prints each verdict with its first reason and the tally by directory.

conformance-regress:
	@scripts/conformance.sh --expect conformance/passing.txt

conformance:
	@scripts/conformance.sh

# Coverage-guided fuzzing of every parser (fuzz/, docs/SECURITY.md): `make fuzz` runs each target for FUZZ_SECONDS
# (300 by default), `make test` runs each for 20 s. Either fails when a target finds a crash.
FUZZ_SECONDS ?= 300

fuzz:
	@scripts/fuzz.sh --seconds $(FUZZ_SECONDS)

fuzz-smoke:
	@scripts/fuzz.sh --seconds 20 --fresh

demo:
	$(CARGO) run --release -- demo

# The Debian package (scripts/deb.sh: release build, man pages from --help, cargo-deb, lintian), written to
# target/debian/fulcrum_VERSION-1_ARCH.deb; install it with `sudo apt install ./target/debian/fulcrum_*.deb`.
deb:
	@scripts/deb.sh
