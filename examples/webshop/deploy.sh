#!/usr/bin/env bash
# Pretend deployment: shows what would be shipped where.
set -euo pipefail
environment=${1:?environment}
version=${2:-$BITBUCKET_COMMIT}
test -f dist/webshop.tar.gz || { echo "no package: dist/webshop.tar.gz missing" >&2; exit 1; }
echo "deploying webshop ${version} to ${environment} ($(cat dist/BUILD_INFO))"
