#!/usr/bin/env bash
# Browser tests drive Debian's chromium through Playwright (no browser download).
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq chromium qpdf >/dev/null 2>&1 || echo "chromium could not be installed; browser tests will skip."
else
  echo "chromium is not installed and we are not root: browser tests will skip."
fi
exit 0
