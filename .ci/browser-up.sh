#!/usr/bin/env bash
# Headless Chromium from Debian's packages, for tests/test_report.py (opens the HTML report
# like a reader's browser would). Idempotent: returns at once when chromium is installed.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version >&2
