#!/usr/bin/env bash
# Installs Chromium from Debian for tests/jobs/test_report_browser.py, which renders the page of
# `helixctl report` headless and checks its charts drew. Idempotent: apt-get runs only when the
# package is missing, and updates its lists first only then. Needs root to install.
set -euo pipefail

status=$(dpkg-query -W -f='${Status}' chromium 2>/dev/null || true)
[[ $status == "install ok installed" ]] && exit 0

if ((EUID != 0)); then
	echo "install-chromium.sh: chromium is missing, and installing it needs root" >&2
	exit 1
fi
echo "install-chromium.sh: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
