# `make test` is the one command that runs every test: it installs what the tests need, then checks formatting,
# lints and runs the whole suite. Benchmarks live in bench/ and are not part of it.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test deps fmt-check clippy unit readme demo

test: deps fmt-check clippy unit readme

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

demo:
	$(CARGO) run --release -- demo
