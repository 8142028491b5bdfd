#!/usr/bin/env bash
# Regenerates gomod/kubernetes and gomod/etcd (go.mod + go.sum) for the given versions.
# Usage: tests/controlplane/update-gomod.sh v1.36.3 v3.6.16
set -euo pipefail

k8s_version=${1:?usage: $0 K8S_VERSION ETCD_VERSION}
etcd_version=${2:?usage: $0 K8S_VERSION ETCD_VERSION}
here=$(cd "$(dirname "$0")" && pwd)
export GOFLAGS=-mod=mod

# Staging modules (k8s.io/api, k8s.io/client-go, ...) are tagged v0.<minor>.<patch>
# for Kubernetes v1.<minor>.<patch>.
staging_version="v0.${k8s_version#v1.}"

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
# directories inside its own tree. Replace directives of a dependency are ignored,
# so the wrapper module has to pin every one of them to the published tag itself.
k8s_dir=$(cd /tmp && go mod download -json "k8s.io/kubernetes@${k8s_version}" |
	sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
staging=$(awk '
	/^require \(/ { in_req = 1; next }
	/^replace \(/ { in_rep = 1; next }
	/^\)/ { in_req = 0; in_rep = 0 }
	in_req && $2 == "v0.0.0" { required[$1] = 1 }
	in_rep && $3 ~ /^\.\/staging\// && ($1 in required) { print $1 }
' "$k8s_dir/go.mod")

{
	echo "module helix-batch/tests/controlplane/kubernetes"
	echo
	echo "go 1.26.0"
	echo
	echo "require k8s.io/kubernetes ${k8s_version}"
	echo
	echo "require ("
	for m in $staging; do printf '\t%s %s\n' "$m" "$staging_version"; done
	echo ")"
	echo
	echo "replace ("
	for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
	echo ")"
} >"$here/gomod/kubernetes/go.mod"
rm -f "$here/gomod/kubernetes/go.sum"
(cd "$here/gomod/kubernetes" && go mod tidy)

cat >"$here/gomod/etcd/go.mod" <<GOMOD
module helix-batch/tests/controlplane/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 ${etcd_version}
GOMOD
rm -f "$here/gomod/etcd/go.sum"
(cd "$here/gomod/etcd" && go mod tidy)
