#!/usr/bin/env bash
# The test command (README "Run the tests"): installs what the tests need on a
# fresh Debian machine, then vets and tests everything. As root the tests that
# need network namespaces, TAP devices and nftables run for real; as any
# other user they skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	need=()
	for pair in iproute2:ip nftables:nft iptables:iptables curl:curl iperf3:iperf3 ethtool:ethtool; do
		command -v "${pair##*:}" >/dev/null 2>&1 || need+=("${pair%%:*}")
	done
	if [ ${#need[@]} -gt 0 ]; then
		echo "installing: ${need[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
fi

go mod download
go vet ./...
go test -count=1 -timeout 30m ./...

# As root: the quick end-to-end benchmark (kernel and ustack senders through
# the userspace path emulator, about two minutes) as a smoke test; it asserts
# that every cell ran, not how fast.
if [ "$(id -u)" = 0 ]; then
	bin=$(mktemp -d)/ustack
	go build -o "$bin" ./cmd/ustack
	USTACK_E2E=1 USTACK_BIN="$bin" go test -count=1 -timeout 10m -run TestBenchQuickNetns -v ./netem/e2e/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|rep 1'
	rm -rf "$(dirname "$bin")"
fi
