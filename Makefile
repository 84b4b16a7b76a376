# The single entry point. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov pins its own dependencies (boto3, PyYAML, packaging...) differently from ours: it lives in its own venv.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CDK := npx --no-install cdk

# jsii's Node 20 end-of-life banner is silenced in infra/__init__.py (one place, for synth and tests alike).
# Anything pip or the CDK CLI would otherwise ask interactively, or report home, stays off.
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1

# `make synth` works out of the box with example values for the required context; `make deploy` takes
# yours from cdk.json or from CONTEXT="-c githubRepository=my-org/my-app ...".
EXAMPLE_CONTEXT := -c githubRepository=example-org/example-app -c githubWorkflow=deploy.yml \
	-c githubCredentialsSecret=deploy-trigger/github
CONTEXT ?=

.PHONY: help install lint test test-fast unit integration infra cli stand-ins examples synth deploy demo bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(PY_STAMP): requirements.txt lambda_src/deploy_trigger/requirements.txt pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON_BOOTSTRAP) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

install: $(PY_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) ## Create .venv and node_modules from the pinned requirements (once)

lint: $(PY_STAMP) ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install lint ## Install what is missing, then ruff, mypy and every test
	$(PY) -m pytest

test-fast: install lint ## Like test, without the slow tests (process kills, lease expiry, the drill)
	$(PY) -m pytest -m "not slow"

# One level of the suite each; together they are the tests `make test` runs. Only the CDK app needs Node.
unit: $(PY_STAMP) ## The Lambda's modules in-process: in-memory moto, botocore's Stubber, a scripted GitHub
	$(PY) -m pytest tests/unit

integration: $(PY_STAMP) ## The real handler and the drill against moto server and the GitHub double
	$(PY) -m pytest tests/integration

infra: install ## The CDK app: template assertions, bundling, cfn-lint, cdk-nag and checkov
	$(PY) -m pytest tests/infra

cli: $(PY_STAMP) ## The operator CLI against the stand-ins, and what its wheel ships
	$(PY) -m pytest tests/cli

stand-ins: install ## The stand-ins' fidelity (GitHub double vs GitHub's OpenAPI description, moto server)
	$(PY) -m pytest tests/stand_ins

examples: $(PY_STAMP) ## The example workflow, IAM policies, SSM helper, release script; zizmor, shellcheck
	$(PY) -m pytest tests/examples

synth: install ## Synthesize the CloudFormation template (no AWS credentials needed)
	$(CDK) synth --quiet $(EXAMPLE_CONTEXT) $(CONTEXT)
	@echo "Template: cdk.out/DeployTrigger.template.json"

deploy: install ## Deploy to the AWS account of your current credentials (configure cdk.json first)
	$(CDK) deploy $(CONTEXT)

demo: install ## Run the scale-out drill locally (moto server + GitHub double; no AWS, no internet)
	$(PY) -m drill $(ARGS)

bench: install ## Benchmarks: cold start, calls per launch, no-limit overhead, drain pace, cold path, burst tail, batches
	$(PY) -m bench.cold_start
	$(PY) -m bench.calls_per_launch
	$(PY) -m bench.no_limit_overhead
	$(PY) -m bench.drain_pace
	$(PY) -m bench.cold_path
	$(PY) -m bench.burst_tail
	$(PY) -m bench.batch_dispatch

clean: ## Remove installed tooling and build outputs
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules cdk.out .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
