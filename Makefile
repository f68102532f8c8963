# secops.m365_defender: `make demo` and `make test` set up everything they need by themselves
# (virtual environments in .venv/, build products and logs in .build/). See docs/development.md.
PYTHON ?= python3
SUITE := $(PYTHON) tests/run/suite.py

.DEFAULT_GOAL := help
.PHONY: help demo test setup build docs sanity units integration changelog browser eda conformance nox sandbox-tests clean distclean

help:
	@echo 'make demo           start the sandbox, run the incident_report playbook on three tenants, then device_containment'
	@echo 'make test           every test stage, both ansible-core versions; ends with "N passed, N failed"'
	@echo 'make sanity|units|integration|changelog|browser|eda|conformance|nox|sandbox-tests   one stage only'
	@echo 'make setup          create/update .venv/oldest and .venv/newest'
	@echo 'make build          build the collection tarball into .build/dist/'
	@echo 'make docs           the docsite (antsibull-docs) into .build/docs/, after its lint; rewrites docs/docsite/rst/'
	@echo 'make clean          remove .build/ and tests/output/; make distclean also removes .venv/'

demo:
	@$(SUITE) demo

test:
	@$(SUITE) test

setup:
	@$(SUITE) setup

build:
	@$(SUITE) build

docs:
	@$(SUITE) docs

sanity units integration changelog browser eda conformance nox:
	@$(SUITE) test --only $@

sandbox-tests:
	@$(SUITE) test --only sandbox

clean:
	rm -rf .build tests/output

distclean: clean
	rm -rf .venv

# The benchmark (not part of `make test`; several minutes): see docs/performance.md.
.PHONY: bench
bench:
	@$(PYTHON) bench/run.py
