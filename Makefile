# hookhaven: `make dev` runs the local stack, `make test` runs every check.
# Both create .venv (and node_modules for the CDK CLI) on first use; later runs reuse them.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The development environment's lock (make lock writes it).
LOCK := constraints.txt
NODE_STAMP := node_modules/.installed
CDK := node_modules/.bin/cdk

# jsii (under aws-cdk-lib) prints a large banner on Node 20, past its end of life;
# the pinned CDK CLI and library still run on it, so keep the output readable.
# Node 22 or 24 is recommended (README).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Let Python keep the bytecode it compiles (some machines and CI images switch that off):
# make test starts dozens of interpreters (pytest workers, emulators, cdk synth), and each
# would compile boto3, moto and aws-cdk-lib afresh, about 3 s apiece.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: dev test lint typecheck synth bootstrap deploy diff smoke bench asset clean help lock mutate

help:
	@echo "make dev     run hookhaven locally (AWS emulator, API, dispatcher)"
	@echo "make test    lint, type-check and run every test"
	@echo "make synth   synthesize the CloudFormation template into cdk.out/"
	@echo "make bootstrap  prepare an AWS account and region for CDK (once)"
	@echo "make deploy  deploy the stack with your AWS credentials (cdk deploy)"
	@echo "make smoke   prove the deployed stack end to end (needs echo_subscriber: see README)"
	@echo "make bench   run the benchmarks"
	@echo "make mutate  mutation-test the signature verifiers (not part of make test)"
	@echo "make lock    regenerate the development lock (constraints.txt), then run make test"

# The development environment is installed from the lock, so every machine and CI run the
# versions the tests passed with (the emulator's moto patches fit one moto only).
$(STAMP): pyproject.toml infra/lambda-requirements.txt $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip -c $(LOCK)
	$(PY) -m pip install --quiet --no-compile -e '.[dev,infra,local]' -c $(LOCK) -c infra/lambda-requirements.txt
	@touch $@

# Regenerate the lock: pyproject.toml's ranges resolved afresh, under the Lambda pins, in
# a throwaway venv, then frozen (all but hookhaven itself). Then run `make test`.
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip; \
	"$$tmp/venv/bin/python" -m pip install --quiet -e '.[dev,infra,local]' -c infra/lambda-requirements.txt; \
	python=$$("$$tmp/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	{ echo "# The development environment's lock: the exact version of every package that"; \
	  echo "# make dev and make test install (pip install -e '.[dev,infra,local]' -c $(LOCK)"; \
	  echo "# -c infra/lambda-requirements.txt), so every machine and CI test the same versions."; \
	  echo "# Made by make lock, with Python $$python: a fresh venv, that install without this"; \
	  echo "# file, then pip freeze --all --exclude-editable (less setuptools and wheel)."; \
	  echo "# Do not edit by hand: change pyproject.toml, run make lock, then make test."; \
	  echo "# moto and werkzeug must match hookhaven/local/emulator/compat.py's PINNED."; \
	  "$$tmp/venv/bin/python" -m pip freeze --all --exclude-editable \
	    --exclude hookhaven --exclude setuptools --exclude wheel; \
	} > "$$tmp/lock"; \
	mv "$$tmp/lock" $(LOCK)
	@echo "wrote $(LOCK); now run make test"

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: Node.js 18+ and npm are needed for the CDK CLI" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

dev: $(STAMP)
	$(VENV)/bin/hookhaven dev $(DEV_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Every test in one run on three workers: the chaos run (2,000 events, its own local
# stack) and the delivery-control run (surges at a rate limit and past an open circuit)
# each keep one busy for minutes while waiting on retries, probes and rate slots, so the
# rest share the time they leave (about 7.5 min, against 9 in two runs on two workers).
#
# mypy runs beside the tests, not before them: from a fresh clone it takes some 45 s of
# one core (no cache yet), which the tests' start-up can share. Its report comes after the
# tests', and either failing fails the target.
test: lint $(NODE_STAMP)
	@log=$$(mktemp); $(VENV)/bin/mypy > $$log 2>&1 & typecheck=$$!; \
	echo "$(VENV)/bin/mypy (beside the tests; its report follows them)"; \
	echo "$(PY) -m pytest -n 3 --dist loadgroup"; \
	$(PY) -m pytest -n 3 --dist loadgroup; tests=$$?; \
	wait $$typecheck; types=$$?; echo "$(VENV)/bin/mypy:"; cat $$log; rm -f $$log; \
	test $$tests -eq 0 && test $$types -eq 0

# Mutation testing of the signature verifiers (mutmut; [tool.mutmut] in pyproject.toml
# names the modules it mutates and the tests it runs), a few minutes on two cores. It starts
# afresh each time: mutmut keeps a survivor's verdict until its function changes, even once
# a test kills it. It prints the score and every mutant not killed, and fails if there is
# one. An equivalent mutant (one no test can tell from the code) is not made at all: its
# line says "pragma: no mutate" with the reason beside it (or, for InvalidSignature's
# messages, do_not_mutate_patterns does).
MUTATE_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

mutate: $(STAMP)
	rm -rf mutants
	@mkdir -p mutants
	@echo "$(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) > mutants/run.log"
	@start=$$(date +%s); \
	$(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) > mutants/run.log 2>&1 \
	  || { tr '\r' '\n' < mutants/run.log | tail -n 40; exit 1; }; \
	echo "mutmut ran in $$(( $$(date +%s) - start )) s"
	@$(VENV)/bin/mutmut results --all true | awk ' \
	  { sub(/^ +/, ""); i = index($$0, ": "); name = substr($$0, 1, i - 1); \
	    status = substr($$0, i + 2); total++; \
	    if (status == "killed" || status == "timeout") killed++; else missed[++n] = name " (" status ")"; \
	    if (status == "timeout") timeouts++ } \
	  END { printf "mutation score: %d killed / %d mutants", killed, total; \
	    if (timeouts) printf " (%d of them by a timeout)", timeouts; print ""; \
	    for (j = 1; j <= n; j++) print "  not killed: " missed[j]; \
	    if (n) print "see one with: $(VENV)/bin/mutmut show NAME"; \
	    exit (n > 0 || total == 0) }'

asset: $(STAMP)
	$(PY) -m infra.asset

synth: $(STAMP) $(NODE_STAMP)
	$(CDK) synth --no-notices --quiet $(CDK_ARGS)
	@ls cdk.out/*.template.json

bootstrap: $(STAMP) $(NODE_STAMP)
	$(CDK) bootstrap --no-notices $(CDK_ARGS)

deploy: $(STAMP) $(NODE_STAMP)
	$(CDK) deploy --no-notices $(CDK_ARGS)

diff: $(STAMP) $(NODE_STAMP)
	$(CDK) diff --no-notices $(CDK_ARGS)

# One signed event through the deployed stack to its echo subscriber, timed, then cleaned
# up. STACK=<name> for a stack not named HookHaven (or HOOKHAVEN_STACK); SMOKE_ARGS for
# the command's options, e.g. SMOKE_ARGS="--timeout 2m".
smoke: $(STAMP)
	$(VENV)/bin/hookhaven $(if $(STACK),--stack $(STACK)) smoke $(SMOKE_ARGS)

bench: $(STAMP)
	@if ls bench/*.py >/dev/null 2>&1; then for b in bench/*.py; do $(PY) $$b || exit 1; done; \
	else echo "no benchmarks yet"; fi

clean:
	rm -rf build cdk.out .pytest_cache .mypy_cache .ruff_cache mutants
