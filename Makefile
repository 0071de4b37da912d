# The verbs of the project. `make test` and `make run` do all set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
PY        := $(BIN)/python
STAMP     := $(VENV)/.installed
LOCAL     := $(VENV)/.installed-local
# The venv's bin holds python3.13, which `sam build` looks for on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-central-1

.PHONY: help setup local-setup run test lint format validate checkov build bench simulate smoke set-webhook catalog clean

help:
	@echo "make setup     create .venv (Python 3.13) and install everything (tests, lint, deploy)"
	@echo "make run       start the local stack on 127.0.0.1:\$${PORT:-8080}"
	@echo "make test      install, validate the template and run every test"
	@echo "make lint      ruff + mypy"
	@echo "make validate  sam validate --lint"
	@echo "make checkov   checkov on template.yaml"
	@echo "make build     sam build"
	@echo "make bench     benchmarks: one table, JSON in benchmarks/results/ (BENCH_ARGS=\"--only NAME\")"
	@echo "make simulate  the money system under random faults (SEED=42 STEPS=20000 SEEDS=1)"
	@echo "make set-webhook  register the deployed webhook and commands with Telegram"
	@echo "make smoke URL=...  read-only checks of a running stack (deployed or make run)"
	@echo "make catalog   compile the message catalog (locale/*/*.po -> .mo) after editing it"

setup: $(STAMP)
local-setup: $(LOCAL)

# Two steps, so `make run` installs only what the local stack needs (requirements-local.txt)
# and `make test` adds the test, lint and deploy tools (requirements-dev.txt).
$(LOCAL): requirements-local.txt layers/common/requirements.txt packaging/lambda-runtime.txt scripts/find-python
	@python313="$$(scripts/find-python)" || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
	  rm -rf $(VENV); echo "creating $(VENV) with $$python313"; "$$python313" -m venv $(VENV); fi
	@# --no-compile: Python writes the bytecode of what the stack imports on its first start,
	@# instead of pip compiling every module of every package up front (a third of the set-up).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -r requirements-local.txt
	@# Make the layer's package and the repo root importable (as Lambda's /opt/python and task root are).
	@printf '%s\n%s\n' "$(CURDIR)/layers/common" "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/sip-billing.pth"
	@touch $(LOCAL)

$(STAMP): $(LOCAL) requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

run: local-setup
	MODE=$(MODE) $(PY) -m local

test: setup validate
	CHROMIUM="$$(scripts/ensure-chromium)" $(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

validate: setup
	$(BIN)/sam validate --lint --template template.yaml

checkov: setup
	BC_SKIP_MAPPING=TRUE $(BIN)/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml

build: setup
	$(BIN)/sam build --template template.yaml

bench: setup
	$(PY) -m benchmarks $(BENCH_ARGS)

STEPS ?= 2000
SEEDS ?= 1
simulate: setup
	$(PY) -m simulation $(if $(SEED),--seed $(SEED)) --steps $(STEPS) --seeds $(SEEDS)

# Read-only checks of a running stack: make smoke URL=<ApiUrl output or http://127.0.0.1:8080>
smoke: setup
	@test -n "$(URL)" || { echo "usage: make smoke URL=<the stack's base URL>"; exit 2; }
	$(PY) scripts/smoke.py --url $(URL) --stack $(STACK) --region $(AWS_DEFAULT_REGION)

STACK ?= sip-billing
set-webhook: setup
	$(PY) scripts/set_webhook.py --stack $(STACK) --region $(AWS_DEFAULT_REGION)

catalog: setup
	$(PY) scripts/catalog.py compile

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
