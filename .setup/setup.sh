#!/usr/bin/env bash
# Installs what Prüfplatz needs and is missing; changes nothing else.
# Usage: setup.sh [extra-package-list ...]
# Idempotent: a second run checks and returns in well under a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

lists=("$here/apt-packages.txt" "$@")
missing=()
# A line is "package [command]": with a command, any install that provides it
# will do (Node.js from elsewhere brings its own npm, which conflicts with Debian's).
while read -r p cmd; do
  if [ -n "${cmd:-}" ] && command -v "$cmd" >/dev/null; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done < <(grep -hv '^\s*#' "${lists[@]}" | awk 'NF')
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "setup: apt-get not found. Install these packages (or your system's equivalents) and run again:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # An old package list may not know the packages: refresh it once.
  if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# ONNX Runtime: the npm package onnxruntime-node ships the Linux x64 library.
ort_version=1.30.0
dest="$root/.deps/onnxruntime"
lib="$dest/libonnxruntime.so.1"
want_sum=$(cat "$here/libonnxruntime.so.1.sha256")
if [ -f "$lib" ] && [ "$(sha256sum "$lib" | cut -d' ' -f1)" = "$want_sum" ]; then
  exit 0
fi
echo "setup: fetching libonnxruntime.so.1 from npm onnxruntime-node@$ort_version"
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ort_version" >/dev/null)
tar -xzf "$tmp"/onnxruntime-node-"$ort_version".tgz -C "$tmp" --strip-components=5 \
  package/bin/napi-v6/linux/x64/libonnxruntime.so.1
got=$(sha256sum "$tmp/libonnxruntime.so.1" | cut -d' ' -f1)
if [ "$got" != "$want_sum" ]; then
  echo "setup: libonnxruntime.so.1 sha256 $got does not match the committed $want_sum; refusing it" >&2
  exit 1
fi
mv -f "$tmp/libonnxruntime.so.1" "$lib"
echo "setup: ONNX Runtime $ort_version at $lib"
