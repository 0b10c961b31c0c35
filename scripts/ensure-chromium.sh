#!/usr/bin/env bash
# The report test opens report.html in headless Chromium (Debian's package). Install it when missing and
# when we can (root with apt-get); otherwise say so: that one test then skips.
set -u
for b in chromium chromium-browser google-chrome; do
  command -v "$b" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report test (apt-get)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    && exit 0
  echo "warning: could not install chromium; the browser test of report.html will be skipped" >&2
else
  echo "note: chromium not found and not root; the browser test of report.html will be skipped" >&2
fi
exit 0
