#!/usr/bin/env bash
# The n-gram tests estimate small ARPA models with IRSTLM (Debian's irstlm, about 0.5 MB) and compare our
# ARPA reader with IRSTLM's own scorer. Install it when missing and when we can (root with apt-get);
# otherwise say so: those tests then skip.
set -u
[ -x /usr/lib/irstlm/bin/tlm ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing irstlm for the n-gram tests (apt-get)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends irstlm) \
    >/dev/null 2>&1 && exit 0
  echo "warning: could not install irstlm; the tests against IRSTLM will be skipped" >&2
else
  echo "note: irstlm not found and not root; the tests against IRSTLM will be skipped" >&2
fi
exit 0
