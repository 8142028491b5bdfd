#!/usr/bin/env bash
# Builds toxiproxy-server (the latency proxy of bench/bench_lake_latency.py) from its Go module
# at a pinned version, once, into a cache outside the repo:
#   ${HELIX_CACHE:-$HOME/.cache/helix-batch}/toxiproxy-<ver>/toxiproxy-server
# and prints the binary's path on stdout. About 15 s cold (go install of cmd/server).
set -euo pipefail

module=github.com/Shopify/toxiproxy/v2
version=${HELIX_TOXIPROXY_VERSION:-v2.5.0}
cache_dir=${HELIX_CACHE:-$HOME/.cache/helix-batch}/toxiproxy-$version
binary=$cache_dir/toxiproxy-server
mkdir -p "$cache_dir"

exec 9>"$cache_dir/.lock" # two runs starting at once build once
flock 9
if [[ ! -x $binary ]]; then
	tmp=$(mktemp -d "$cache_dir/.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "build_toxiproxy.sh: building $module/cmd/server@$version" >&2
	# The module's go.mod has no replace lines, so `go install pkg@version` builds it as is.
	(cd "$tmp" && GOFLAGS=-mod=mod GOBIN="$tmp/bin" CGO_ENABLED=0 go install -trimpath \
		-ldflags="-s -w -X $module.Version=$version" "$module/cmd/server@$version")
	mv -f "$tmp/bin/server" "$binary" # atomic: a killed build leaves no binary behind
fi
echo "$binary"
