#!/bin/sh
# Wait until a URL answers (services start beside the step, not before it is ready).
url=$1
for _ in $(seq 1 50); do
    wget -qO- "$url" >/dev/null 2>&1 && exit 0
    sleep 0.2
done
echo "timed out waiting for $url" >&2
exit 1
