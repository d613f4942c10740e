#!/usr/bin/env bash
# Browser tests: every tests/browser/*.test.mjs under node:test, one file at a time (each launches Debian's
# Chromium through playwright-core and the static server of tests/browser/server.mjs; firefox.test.mjs launches
# Debian's firefox-esr through puppeteer-core instead, and skips where it is missing).
# Needs `npm install` (scripts/setup.sh does it) and the default models in models/.
# Exits non-zero when a test fails; the last lines are node:test's summary (tests, pass, fail, ...).
# Environment: BROWSER_TEST_TIMEOUT (seconds for the whole run, default 1800: a guard against a hung browser; the suite takes 11 to 15 minutes), CHROMIUM, FIREFOX (browser binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/playwright-core ]; then
  echo "error: node_modules/playwright-core is missing; run scripts/setup.sh (or npm install)" >&2
  exit 1
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "error: ${CHROMIUM:-/usr/bin/chromium} is missing; run scripts/setup.sh (it installs Debian's chromium)" >&2
  exit 1
fi
shopt -s nullglob
# Arguments: the test files to run (default: all of them).
if [ $# -gt 0 ]; then files=("$@"); else files=(tests/browser/*.test.mjs); fi
if [ ${#files[@]} -eq 0 ]; then
  echo "error: no tests/browser/*.test.mjs files" >&2
  exit 1
fi

# --test-timeout bounds each test; `timeout` bounds the whole run (a hung browser must not hang CI).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
timeout --kill-after=30 "${BROWSER_TEST_TIMEOUT:-1800}" \
  node --test --test-reporter=spec --test-concurrency=1 --test-timeout=300000 "${files[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  echo "error: browser tests timed out after ${BROWSER_TEST_TIMEOUT:-1800} s" >&2
fi
# node:test prints failure details after its summary: repeat the summary so it comes last.
if [ "$rc" != 0 ]; then
  echo
  grep -E '^ℹ (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$log" | tail -n 8 || true
fi
exit "$rc"
