# meshgate: every check has one entry point here, and CI (.ci/run) runs exactly `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MVN := $(CURDIR)/build-support/mvn -B -q -Dstyle.color=never -s $(CURDIR)/build-support/maven-settings.xml
PULSAR_40 := 4.0.7
PULSAR_42 := 4.2.4
SPIRE_VERSION := 1.13.3
KEYCLOAK_VERSION := 26.5.6
SPIRE_BIN := .cache/spire/$(SPIRE_VERSION)/bin/spire-server
KEYCLOAK_KC := .cache/keycloak/$(KEYCLOAK_VERSION)/keycloak-$(KEYCLOAK_VERSION)/bin/kc.sh
PULSAR_PROXY := 4.0.8
CACHE := .cache/broker
SHIM_JAR := plugin-shim/target/meshgate-pulsar-shim-0.1.0.jar
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help run test lint typecheck proto proto-check shim shim-verify broker-classpath pulsar-names \
        proxy-classpath helm run-cluster \
        test-unit test-conformance test-integration test-e2e bench clean fuzz fuzz-long soak spire keycloak

help:
	@echo "make run    - set up everything and run a local broker + meshgate with the example policies"
	@echo "make run-cluster - the same with ZooKeeper, a bookie, two brokers and a Pulsar proxy (Helm chart shape)"
	@echo "make test   - every check: lint, types, stale generated code, shim build + tests, all test tiers"
	@echo "make bench  - benchmarks (writes BENCHMARKS.md)"

# --- set-up -----------------------------------------------------------------------------------

$(VENV)/.installed: pyproject.toml
	@echo "==> Python virtualenv and dependencies"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

proto: $(VENV)/.installed
	@scripts/gen_proto.sh

proto-check: $(VENV)/.installed
	@echo "==> generated protobuf code is up to date"
	@tmp=$$(mktemp -d) && scripts/gen_proto.sh $$tmp >/dev/null && \
	  diff -r -x __pycache__ $$tmp/meshgate/v1 service/meshgate/v1 && rm -rf $$tmp || \
	  { echo "service/meshgate/v1 is stale: run 'make proto' and commit the result"; exit 1; }

$(SHIM_JAR): $(shell find plugin-shim/src proto -type f) plugin-shim/pom.xml
	@echo "==> building the broker shim (Maven; first run downloads dependencies)"
	@cd plugin-shim && $(MVN) package -DskipTests

shim: $(SHIM_JAR)

shim-verify:
	@echo "==> shim: compile, unit tests, Checkstyle"
	@cd plugin-shim && $(MVN) verify

$(CACHE)/%/classpath.txt: broker-runtime/pom.xml
	@echo "==> resolving the Pulsar $* broker classpath from Maven Central (first run: ~250 MB)"
	@mkdir -p $(@D)
	@cd broker-runtime && $(MVN) dependency:build-classpath \
	  -Dpulsar.version=$* -Dmdep.outputFile=$(abspath $@)

broker-classpath: $(CACHE)/$(PULSAR_40)/classpath.txt $(CACHE)/$(PULSAR_42)/classpath.txt

# Real identity infrastructure for the end-to-end tests (issue #18): SPIRE built from the Go module proxy
# (needs Go >= 1.24), Keycloak's Quarkus distribution from Maven Central (runs on Java 21+).
$(SPIRE_BIN): devtools/spire_build.sh
	@devtools/spire_build.sh $(SPIRE_VERSION)

spire: $(SPIRE_BIN)

$(KEYCLOAK_KC): | $(VENV)/.installed
	@$(PY) -m devtools.keycloak prepare

keycloak: $(KEYCLOAK_KC)

# How Pulsar's own TopicName reads topic names and which operations the broker asks about (its enums),
# asked of both brokers; the conformance tier re-asks and compares whenever the classpaths are resolved
# (tests/conformance/pulsar_names; `make broker-classpath`).
pulsar-names: $(VENV)/.installed
	@$(PY) -m tests.conformance.pulsar_names.table

# The Pulsar proxy and admin CLI (pulsar-proxy, pulsar-client-tools 4.0.8 on the 4.0.7 libraries).
PROXY_CP := .cache/proxy/$(PULSAR_PROXY)/classpath.txt
$(PROXY_CP): broker-runtime/proxy/pom.xml
	@echo "==> resolving the Pulsar proxy $(PULSAR_PROXY) and admin CLI classpath from Maven Central"
	@mkdir -p $(@D)
	@cd broker-runtime/proxy && $(MVN) dependency:build-classpath -Dmdep.outputFile=$(abspath $@)

proxy-classpath: $(PROXY_CP)

# Helm, to render the Apache Pulsar chart with deploy/helm/values-meshgate.yaml (tests/unit/deploy/test_chart.py).
HELM_VERSION := 4.3.2
HELM := .cache/helm/$(HELM_VERSION)/helm
# .ci/run starts this build in the background; the lock makes `make test` wait for it instead of building twice.
$(HELM):
	@mkdir -p $(@D)
	@flock $(@D)/.build.lock sh -c 'test -x $@ || { \
	  echo "==> building Helm $(HELM_VERSION) from the Go module proxy (a few minutes, once)"; \
	  GOBIN=$(abspath $(@D)) go install helm.sh/helm/v4/cmd/helm@v$(HELM_VERSION); }'

helm: $(HELM)

# --- the two commands -------------------------------------------------------------------------

run: $(VENV)/.installed shim $(CACHE)/$(PULSAR_40)/classpath.txt
	@$(PY) -m devtools.run

run-cluster: $(VENV)/.installed shim $(CACHE)/$(PULSAR_40)/classpath.txt proxy-classpath helm
	@$(PY) -m devtools.run_cluster

test: lint typecheck proto-check shim-verify broker-classpath fuzz test-unit test-conformance test-integration test-e2e
	@echo "==> all checks passed"

# --- checks -----------------------------------------------------------------------------------

lint: $(VENV)/.installed
	@echo "==> ruff"
	@$(VENV)/bin/ruff check service tests devtools bench fuzz soak
	@$(VENV)/bin/ruff format --check service tests devtools bench fuzz soak

typecheck: $(VENV)/.installed
	@echo "==> mypy --strict"
	@$(VENV)/bin/mypy

test-unit: $(VENV)/.installed helm
	@echo "==> unit tests"
	@$(PYTEST) tests/unit -q

test-conformance: $(VENV)/.installed
	@echo "==> conformance tables (in process)"
	@$(PYTEST) tests/conformance -q

test-integration: $(VENV)/.installed
	@echo "==> integration tests (real service on loopback)"
	@$(PYTEST) tests/integration -q

test-e2e: $(VENV)/.installed shim broker-classpath proxy-classpath spire keycloak
	@echo "==> end-to-end tests (real Pulsar $(PULSAR_40) and $(PULSAR_42) brokers, standalone and as a cluster behind a proxy, SPIRE, Keycloak)"
	@$(PYTEST) tests/e2e -q

bench: $(VENV)/.installed
	@$(MAKE) -s shim $(CACHE)/$(PULSAR_40)/classpath.txt && $(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .cache plugin-shim/target broker-runtime/target var

# --- hardening (issue #9; results in docs/RELIABILITY.md) ------------------------------------------------

FUZZ_SECONDS ?= 600

fuzz: $(VENV)/.installed
	@echo "==> fuzzing: token, x509, policy, rpc harnesses, fixed seed, 8 s each (atheris)"
	@$(VENV)/bin/ruff check -q fuzz soak && $(VENV)/bin/mypy --strict --follow-imports=silent fuzz soak
	@$(PY) -m fuzz.run --seconds 8 --parallel 2

fuzz-long: $(VENV)/.installed
	@echo "==> long fuzzing run: $(FUZZ_SECONDS) s per harness, two at a time (var/fuzz/summary.json)"
	@$(PY) -m fuzz.run --seconds $(FUZZ_SECONDS) --parallel 2

soak: $(VENV)/.installed
	@echo "==> soak: measure capacity, then 10 minutes at half of it (var/soak/result.json)"
	@$(PY) -m soak
