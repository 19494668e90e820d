# The two commands of the README: `make demo` and `make test`. Both install what they
# need on a fresh Debian machine with Node 20 and npm (npm packages, etcd), then build.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false

.PHONY: all deps etcd promtool netns-tools build test demo bench clean typecheck

all: build

# npm ci only when the lockfile changed since the last install (native addons are
# built through package.json's allowScripts).
node_modules/.installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

deps: node_modules/.installed etcd promtool

# $(call apt_install,COMMANDS,PACKAGES): installs PACKAGES from Debian when one of COMMANDS
# is not on PATH (a fresh machine), and fails unless all of them are afterwards.
define apt_install
	@missing=; for c in $(1); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing from Debian's $(2)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(2) >/dev/null || exit 1; \
	  for c in $(1); do command -v $$c >/dev/null || { echo "$$c still not on PATH"; exit 1; }; done; \
	fi
endef

# etcd 3.4.
etcd:
	$(call apt_install,etcd,etcd-server)

# promtool checks and unit-tests deploy/prometheus/alerts.yml; test/e2e/prometheus.test.ts
# runs the prometheus server against a deployment. Debian's prometheus package has both.
promtool:
	$(call apt_install,promtool prometheus,prometheus)

# ip and nft: bench quantum drops packets in network namespaces.
netns-tools:
	$(call apt_install,ip nft,iproute2 nftables)

build: node_modules/.installed
	npm run --silent build

typecheck: node_modules/.installed
	npm run --silent typecheck

# Tests that run a whole deployment (15 processes and etcd) go one at a time after the
# rest: two of them side by side saturate 2 cores, and their rounds then miss budgets
# that no real deployment would. Both sets always run, so one CI run shows every failure.
# First, tools/folder-cycle-check.ts refuses an import cycle between top-level folders.
test: deps build typecheck
	@node --import tsx tools/folder-cycle-check.ts; layers=$$?; \
	$(NODE_BIN)/ava 'test/**/*.test.ts' '!test/e2e/**' '!test/chaos/drills.test.ts'; units=$$?; \
	$(NODE_BIN)/ava --concurrency 1 'test/e2e/**/*.test.ts' test/chaos/drills.test.ts; deployments=$$?; \
	exit $$(( layers || units || deployments ))

demo: deps build
	node dist/cli/main.js demo

# Every benchmark and drill one after another (store, quantum, snapshot on local.yaml and
# wan.yaml, compare-etcd, the chaos drills), then docs/BENCHMARKS.md's generated table.
# Run it alone on the machine: the figures are of this machine's two cores.
# BENCH_ARGS passes options to `bench all`, e.g. BENCH_ARGS=--fast or BENCH_ARGS='--only snapshot'.
bench: deps netns-tools build
	node dist/cli/main.js bench all $(BENCH_ARGS)

clean:
	rm -rf dist .aetherflow node_modules/.installed
