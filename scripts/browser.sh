#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the admin page's browser test (tests/service/
# test_admin_page.py drives it with Playwright; Playwright's own browser downloads are never used).
# Installs with apt-get when /usr/bin/chromium is missing and apt is usable (root, as on CI); else
# says why and carries on: the browser test then skips with that reason.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/browser.sh: no apt-get here; the browser test will skip (install chromium yourself)" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "scripts/browser.sh: not root; the browser test will skip (apt-get install chromium)" >&2
    exit 0
  fi
fi
echo "installing Debian's chromium for the browser test ..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium; } >/dev/null; then
  echo "scripts/browser.sh: apt-get install chromium failed; the browser test will skip" >&2
fi
exit 0
