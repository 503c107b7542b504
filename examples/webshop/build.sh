#!/usr/bin/env bash
# Package the app into dist/ (the artifact later steps receive).
set -euo pipefail
mkdir -p dist .wheels
echo "build ${BITBUCKET_BUILD_NUMBER:-0} of ${BITBUCKET_COMMIT:-unknown}" > dist/BUILD_INFO
tar -czf dist/webshop.tar.gz app
# Simulate an expensive download that the cache saves on the next run.
if [ ! -f .wheels/downloaded ]; then
    echo "cache miss: downloading dependencies"
    date > .wheels/downloaded
else
    echo "cache hit: dependencies from $(cat .wheels/downloaded)"
fi
