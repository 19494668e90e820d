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

# etcd 3.4 from Debian when it is not on PATH.
etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "installing etcd from Debian's etcd-server package"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq etcd-server >/dev/null; \
	  command -v etcd >/dev/null || { echo "etcd still not on PATH"; exit 1; }; }

# promtool (checks and unit-tests deploy/prometheus/alerts.yml) from Debian's prometheus package when it is not on PATH.
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing promtool from Debian's prometheus package"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  command -v promtool >/dev/null || { echo "promtool still not on PATH"; exit 1; }; }

# ip and nft (bench quantum drops packets in network namespaces) from Debian's iproute2
# and nftables packages when they are not on PATH.
netns-tools:
	@command -v ip >/dev/null 2>&1 && command -v nft >/dev/null 2>&1 || { \
	  echo "installing ip and nft from Debian's iproute2 and nftables packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends iproute2 nftables >/dev/null; \
	  command -v ip >/dev/null && command -v nft >/dev/null || { echo "ip or nft still not on PATH"; exit 1; }; }

build: node_modules/.installed
	npm run --silent build

typecheck: node_modules/.installed
	npm run --silent typecheck

# Tests that run a whole deployment (15 processes and etcd) go one at a time after the
# rest: two of them side by side saturate 2 cores, and their rounds then miss budgets
# that no real deployment would. Both sets always run, so one CI run shows every failure.
test: deps build typecheck
	@$(NODE_BIN)/ava 'test/**/*.test.ts' '!test/e2e/**' '!test/chaos/drills.test.ts'; units=$$?; \
	$(NODE_BIN)/ava --concurrency 1 'test/e2e/**/*.test.ts' test/chaos/drills.test.ts; deployments=$$?; \
	exit $$(( units || deployments ))

demo: deps build
	node dist/cli/main.js demo

bench: deps netns-tools build
	node dist/cli/main.js bench all

clean:
	rm -rf dist .aetherflow node_modules/.installed
