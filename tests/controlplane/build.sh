#!/usr/bin/env bash
# Builds the control plane used by the end-to-end tests (etcd, kube-apiserver,
# kube-controller-manager) from their Go modules, the way envtest's binaries are
# made, and fetches the spark-operator SparkApplication CRD. With --chain, also the
# real spark-operator chain: kube-scheduler, the spark-operator binary (controller
# and webhook) with its three CRDs, and kwok; and helm (for the chart's tests). With
# --helm, of those only helm. With --node, also the kubelet and the cluster DNS (CoreDNS)
# of the real node (tests/e2e/node.py); --chain --node builds both.
#
# Everything goes to a cache outside the repo:
#   ${HELIX_CACHE:-$HOME/.cache/helix-batch}/controlplane/k8s-<ver>-etcd-<ver>/
#     etcd  kube-apiserver  kube-controller-manager
#     sparkapplications-crd.yaml  SPARK_OPERATOR_VERSION   (when the CRD could be fetched)
#   .../controlplane/kube-scheduler-<k8s ver>/kube-scheduler              (--chain)
#   .../controlplane/spark-operator-<ver>/spark-operator  crds/*.yaml      (--chain)
#   .../controlplane/kwok-<ver>/kwok                                      (--chain)
#   .../controlplane/helm-<ver>/helm                             (--chain or --helm)
#   .../controlplane/kubelet-<k8s ver>/kubelet                            (--node)
#   .../controlplane/coredns-<ver>/coredns                                (--node)
#
# Prints on stdout, one per line:
#   BIN_DIR=<directory holding the three binaries>
#   SPARK_CRD=<path of the CRD, empty when it is not available>
#   KUBE_SCHEDULER=, SPARK_OPERATOR=, SPARK_OPERATOR_CRDS=<dir>, KWOK=   (--chain)
#   HELM=<path of helm>                                       (--chain or --helm)
#   KUBELET=, COREDNS=                                                    (--node)
# If KUBEBUILDER_ASSETS holds the three binaries they are used and nothing is built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binaries=(etcd kube-apiserver kube-controller-manager)

# Module that publishes the SparkApplication CRD and the version of it to use.
spark_operator_module=${HELIX_SPARK_OPERATOR_MODULE:-github.com/kubeflow/spark-operator/v2}
with_chain=false
with_helm=false
with_node=false
for arg in "$@"; do
	case $arg in
	--chain) with_chain=true with_helm=true ;;
	--helm) with_helm=true ;;
	--node) with_node=true ;;
	*)
		echo "build.sh: unknown argument $arg (expected --chain, --helm, --node)" >&2
		exit 2
		;;
	esac
done

log() { echo "build.sh: $*" >&2; }

# The versions are the ones pinned in the wrapper modules' go.mod files.
mod_version() {
	awk -v m="$2" '/=>/ { next } { for (i = 1; i < NF; i++) if ($i == m) { print $(i + 1); exit } }' "$1"
}
k8s_version=$(mod_version "$here/gomod/kubernetes/go.mod" k8s.io/kubernetes)
etcd_version=$(mod_version "$here/gomod/etcd/go.mod" go.etcd.io/etcd/server/v3)
kwok_version=$(mod_version "$here/gomod/kwok/go.mod" sigs.k8s.io/kwok)
helm_version=$(mod_version "$here/gomod/helm/go.mod" helm.sh/helm/v3)
coredns_version=$(mod_version "$here/gomod/coredns/go.mod" github.com/coredns/coredns)
spark_operator_version=${HELIX_SPARK_OPERATOR_VERSION:-$(mod_version "$here/gomod/spark-operator/go.mod" github.com/kubeflow/spark-operator/v2)}
: "${k8s_version:?k8s.io/kubernetes not found in gomod/kubernetes/go.mod}"
: "${etcd_version:?go.etcd.io/etcd/server/v3 not found in gomod/etcd/go.mod}"

cache_root=${HELIX_CACHE:-$HOME/.cache/helix-batch}/controlplane
cache_dir=$cache_root/k8s-$k8s_version-etcd-$etcd_version
mkdir -p "$cache_dir"

has_binaries() {
	local b
	for b in "${binaries[@]}"; do [[ -x "$1/$b" ]] || return 1; done
}

# Two test runs starting at once must not build twice.
exec 9>"$cache_root/.lock"
flock 9

tmp=$(mktemp -d "$cache_root/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
version_pkg=k8s.io/component-base/version
k8s_ldflags="-s -w -X $version_pkg.gitVersion=$k8s_version -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$k8s_minor -X $version_pkg.gitTreeState=clean"

build_binaries() {
	log "building kube-apiserver and kube-controller-manager $k8s_version (takes a while when cold)"
	(cd "$here/gomod/kubernetes" && go build -trimpath -ldflags="$k8s_ldflags" -o "$tmp/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
	log "building etcd $etcd_version"
	(cd "$here/gomod/etcd" && go build -trimpath -ldflags="-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)

	# Each rename is atomic and the cache counts only when all three are there,
	# so a build killed at any point leaves no usable-looking half cache.
	local b
	for b in "${binaries[@]}"; do mv -f "$tmp/$b" "$cache_dir/$b"; done
}

# Copies the CRD out of the spark-operator module (fetched through the Go module
# proxy). Failing here is not fatal: tests that need the CRD say it is missing.
fetch_spark_crd() {
	local crd=$cache_dir/sparkapplications-crd.yaml
	if [[ -f $crd && "$(cat "$cache_dir/SPARK_OPERATOR_VERSION" 2>/dev/null)" == "$spark_operator_version" ]]; then
		return 0
	fi
	local json dir
	if ! json=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$spark_operator_module@$spark_operator_version" 2>&1); then
		log "WARNING: cannot fetch $spark_operator_module@$spark_operator_version, no SparkApplication CRD:"
		log "$(sed -n 's/.*"Error": "\(.*\)".*/\1/p' <<<"$json")"
		return 0
	fi
	dir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$json")
	local candidate
	for candidate in config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml \
		charts/spark-operator-chart/crds/sparkoperator.k8s.io_sparkapplications.yaml; do
		if [[ -f $dir/$candidate ]]; then
			cp "$dir/$candidate" "$tmp/crd.yaml"
			echo "$spark_operator_version" >"$tmp/SPARK_OPERATOR_VERSION"
			mv -f "$tmp/crd.yaml" "$crd"
			mv -f "$tmp/SPARK_OPERATOR_VERSION" "$cache_dir/SPARK_OPERATOR_VERSION"
			log "SparkApplication CRD from $spark_operator_module@$spark_operator_version ($candidate)"
			return 0
		fi
	done
	log "WARNING: no SparkApplication CRD found in $dir"
}

# One chain binary ($2, package $4) built from the wrapper module gomod/$1 into
# the cache directory $3 (with the spark-operator, its CRDs too). A directory
# counts as cached when its binary is there, moved in last.
build_chain_binary() {
	local module=$1 binary=$2 dir=$3 package=$4 ldflags=$5
	[[ -x $dir/$binary ]] && return 0
	local out=$tmp/$module start=$SECONDS
	mkdir -p "$out" "$dir"
	log "building $binary into $dir (up to ~20 min when cold)"
	(cd "$here/gomod/$module" && go build -trimpath -ldflags="$ldflags" -o "$out/$binary" "$package")
	if [[ $module == spark-operator ]]; then
		local src
		src=$(cd "$here/gomod/$module" && go list -m -f '{{.Dir}}' "$spark_operator_module")
		mkdir -p "$dir/crds"
		cp "$src"/config/crd/bases/*.yaml "$dir/crds/"
	fi
	mv -f "$out/$binary" "$dir/$binary"
	log "built $binary in $((SECONDS - start))s"
}

# The three builds share the Go caches but not much else: run in parallel.
build_chain() {
	local pids=() pid failed=0
	build_chain_binary kubernetes kube-scheduler "$scheduler_dir" k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags" &
	pids+=($!)
	build_chain_binary spark-operator spark-operator "$spark_operator_dir" "$spark_operator_module/cmd/operator" "-s -w" &
	pids+=($!)
	build_chain_binary kwok kwok "$kwok_dir" sigs.k8s.io/kwok/cmd/kwok "-s -w" &
	pids+=($!)
	build_helm &
	pids+=($!)
	for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
	((failed == 0)) || { log "building the spark-operator chain failed"; exit 1; }
}
# The ldflags of helm's own Makefile: its version, and the Kubernetes version that `helm
# template` and `helm lint` assume (one minor above its client-go's v0.x).
build_helm() {
	local client_go minor pkg=helm.sh/helm/v3
	client_go=$(mod_version "$here/gomod/helm/go.mod" k8s.io/client-go)
	minor=${client_go#v0.}
	minor=${minor%%.*}
	build_chain_binary helm helm "$helm_dir" "$pkg/cmd/helm" "-s -w \
		-X $pkg/internal/version.version=$helm_version -X $pkg/internal/version.metadata= \
		-X $pkg/internal/version.gitTreeState=clean \
		-X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$minor \
		-X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$minor"
}
scheduler_dir=$cache_root/kube-scheduler-$k8s_version
spark_operator_dir=$cache_root/spark-operator-$spark_operator_version
kwok_dir=$cache_root/kwok-$kwok_version
helm_dir=$cache_root/helm-$helm_version
kubelet_dir=$cache_root/kubelet-$k8s_version
coredns_dir=$cache_root/coredns-$coredns_version

if [[ -n ${KUBEBUILDER_ASSETS:-} ]] && has_binaries "$KUBEBUILDER_ASSETS"; then
	bin_dir=$KUBEBUILDER_ASSETS
	log "using the binaries in KUBEBUILDER_ASSETS=$bin_dir"
elif has_binaries "$cache_dir"; then
	bin_dir=$cache_dir
else
	start=$SECONDS
	build_binaries
	log "built in $((SECONDS - start))s into $cache_dir"
	bin_dir=$cache_dir
fi

fetch_spark_crd

echo "BIN_DIR=$bin_dir"
if [[ -f $cache_dir/sparkapplications-crd.yaml ]]; then
	echo "SPARK_CRD=$cache_dir/sparkapplications-crd.yaml"
else
	echo "SPARK_CRD="
fi
if $with_chain; then
	build_chain
	echo "KUBE_SCHEDULER=$scheduler_dir/kube-scheduler"
	echo "SPARK_OPERATOR=$spark_operator_dir/spark-operator"
	echo "SPARK_OPERATOR_CRDS=$spark_operator_dir/crds"
	echo "KWOK=$kwok_dir/kwok"
elif $with_helm; then
	build_helm
fi
if $with_helm; then
	echo "HELM=$helm_dir/helm"
fi
if $with_node; then
	build_chain_binary kubernetes kubelet "$kubelet_dir" k8s.io/kubernetes/cmd/kubelet "$k8s_ldflags"
	# gomod/coredns is a main package: CoreDNS with the plugins the tests need.
	build_chain_binary coredns coredns "$coredns_dir" . "-s -w"
	echo "KUBELET=$kubelet_dir/kubelet"
	echo "COREDNS=$coredns_dir/coredns"
fi
