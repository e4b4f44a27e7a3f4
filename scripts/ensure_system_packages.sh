#!/usr/bin/env bash
# System packages the test suite uses, from Debian (nothing is downloaded at run
# time): chromium for the browser tests (driven by Playwright, no browser
# download), qpdf to check generated PDFs, DejaVu fonts embedded in reports.
# Installed when missing and we are root; otherwise those tests skip.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v qpdf >/dev/null 2>&1 || missing+=(qpdf)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} for the test suite..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || echo "Could not install ${missing[*]}; the tests that need them will skip."
else
  echo "Missing ${missing[*]} and not root: the tests that need them will skip."
fi
exit 0
