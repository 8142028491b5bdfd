#!/usr/bin/env bash
# Installs the Debian packages the real node of the end-to-end tests needs (tests/e2e/node.py):
# containerd and runc (the container runtime), the CNI plugins (/usr/lib/cni: bridge,
# host-local, loopback), and umoci, skopeo and busybox-static (images built locally, without a
# registry), and debootstrap and buildah (the project's Dockerfiles built without Docker:
# tests/e2e/images.py). Given package names, it installs those instead (make browser: Chromium).
# Idempotent: apt-get runs only when a package is missing, and updates its lists first only
# then. Needs root. Without systemd nothing starts containerd: the fixture does.
set -euo pipefail

packages=(containerd runc containernetworking-plugins umoci skopeo busybox-static debootstrap buildah)
(($# > 0)) && packages=("$@")

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)); then
	echo "install-debian-packages.sh: missing ${missing[*]}, and installing needs root" >&2
	exit 1
fi
echo "install-debian-packages.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
