# chainops.runbooks — everything a new machine needs is installed from here.
#   make demo   set up, bring the lab up, show the fleet through the collection
#   make test   set up and run every gate (unit, lab integration, molecule, lint, sanity, build)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export DEBIAN_FRONTEND := noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK := 1

APT_PACKAGES := docker.io iptables busybox-static python3.11 util-linux shellcheck curl \
                prometheus prometheus-alertmanager
COLLECTION_LINK := build/collections/ansible_collections/chainops/runbooks
VENV_STAMP := $(VENV)/.requirements-dev.sha256
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help setup apt venv collection-link lab-up lab-down lab-status demo test \
        unit integration molecule lint sanity rules build bench-probe bench-restart

help:
	@grep -E '^#   make' $(MAKEFILE_LIST) | sed 's/^#   //'
	@echo "other targets: setup lab-up lab-down lab-status unit integration molecule lint sanity rules build bench-probe bench-restart"

setup: apt venv collection-link

# Install Debian packages only when one is missing, so a set-up machine does no apt work.
# kubectl (Debian's kubernetes-client) talks to the lab's Kubernetes API unless one is already installed.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The venv is rebuilt only when requirements-dev.txt changes.
venv:
	@want=$$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1); \
	if [ ! -x $(PY) ] || [ "$$(cat $(VENV_STAMP) 2>/dev/null)" != "$$want" ]; then \
	  echo "venv: installing pinned Python packages into $(VENV)"; \
	  python3 -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip && \
	  $(PY) -m pip install -q -r requirements-dev.txt && echo "$$want" > $(VENV_STAMP); \
	fi

# ansible.cfg's collections_path resolves chainops.runbooks.* to this checkout.
collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@[ -L $(COLLECTION_LINK) ] || rm -rf $(COLLECTION_LINK)
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

lab-up: setup
	lab/labctl up

lab-down:
	@if [ -x $(PY) ]; then lab/labctl down; else echo "lab-down: no $(VENV); nothing of the lab can be running"; fi

lab-status: setup
	lab/labctl status

# The whole story: break a region, let runbook 000 §2 repair it, show the fleet again.
demo: lab-up
	ansible-playbook playbooks/p3_fleet_status.yml
	lab/fault region-down us-east
	ansible-playbook playbooks/p3_fleet_status.yml -e triage_chain_window=2
	ansible-playbook playbooks/p1_regional_failure.yml -l us-east || { lab/fault --heal region-down us-east; exit 1; }
	lab/fault --heal region-down us-east
	ansible-playbook playbooks/p3_fleet_status.yml
	@echo "Next: lab/fault --list; lab/fault node-down bitcell-node-us-east-1; ansible-playbook playbooks/p2_node_down.yml --check; make lab-down"

unit: setup
	$(PYTEST) tests/unit

# Integration tests need the lab; they leave it healthy after each fault.
integration: lab-up
	$(PYTEST) --durations=25 tests/integration

# Each scenario by name: `--all` also looks for a `default` scenario we do not need.
# One scenario per severity playbook; each prepares its fault and heals it in destroy.
MOLECULE_SCENARIOS ?= fleet_status p2_node_down p1_regional_failure p1_chain_not_progressing \
  p2_high_proof_time p2_low_peers p2_pending_transactions p1_app_outage p2_resource_pressure
molecule: lab-up
	@for scenario in $(MOLECULE_SCENARIOS); do \
	  ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/collections molecule test -s $$scenario; \
	done

lint: setup
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/collections ansible-lint --profile production $(wildcard roles playbooks molecule)

sanity: setup
	VENV=$(VENV) tools/sanity.sh

# promtool: the alert rules compile and their unit tests pass (production and lab thresholds).
rules: setup
	lab/monitoring/test-rules.sh

# fleet_probe vs per-host uri tasks vs a raw client, printed as ratios (about 30 min on 2 cores).
BENCH_PROBE_ARGS ?= --sizes 100,1000 --forks 50 --output build/bench-probe.json
bench-probe: setup
	$(PY) benchmarks/bench_probe.py $(BENCH_PROBE_ARGS)

BENCH_RESTART_ARGS ?= --rounds 3
bench-restart: lab-up
	$(PY) benchmarks/bench_restart.py $(BENCH_RESTART_ARGS)

build: setup
	rm -f chainops-runbooks-*.tar.gz
	ansible-galaxy collection build --force .

# The whole suite; the lab is torn down at the end whatever happened.
test: setup
	@trap '$(MAKE) --no-print-directory lab-down' EXIT; \
	$(MAKE) --no-print-directory lint sanity rules unit integration molecule
