#!/usr/bin/env bash
# The one test command: sets up what the tests need on a fresh machine, then runs
# every check and test. PostgreSQL is used when reachable on 127.0.0.1:5432 (or
# LEAVER_TEST_POSTGRES_URL); without it, store tests print a notice and run on SQLite
# only — except in CI (CI=true), where PostgreSQL is required.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started_at=$(date +%s)

# Python tools used by the tests live in a virtualenv (.venv), created on first use.
if [ -f scripts/requirements-test.txt ] && [ -s scripts/requirements-test.txt ]; then
    step "python test tools (.venv)"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
    export PATH="$PWD/.venv/bin:$PATH"
fi

if command -v pg_isready >/dev/null 2>&1; then
    if pg_isready -h 127.0.0.1 -p 5432 -q; then
        echo "PostgreSQL reachable on 127.0.0.1:5432: store tests run on SQLite and PostgreSQL"
    else
        echo "NOTICE: PostgreSQL not reachable on 127.0.0.1:5432: store tests run on SQLite only"
    fi
fi

# The dashboard's browser tests drive headless Chromium through chromedriver (Debian's
# chromium and chromium-driver). Install them on a fresh machine when we can (root).
if [ ! -x /usr/bin/chromedriver ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "chromium + chromium-driver (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast -- --test-threads="${LEAVER_TEST_THREADS:-4}"

# A short fuzz run of every cargo-fuzz target. Its instrumented build is a second build
# of the whole dependency tree: when the steps above have already used most of CI's
# 40 minutes (a cold machine), it is skipped with a notice rather than overrun.
elapsed=$(( $(date +%s) - started_at ))
budget="${LEAVER_FUZZ_START_BEFORE:-1500}"
if [ "$elapsed" -lt "$budget" ]; then
    step "fuzz (15 s per target)"
    scripts/fuzz.sh 15
else
    echo "NOTICE: ${elapsed}s spent before fuzzing (limit ${budget}s): the fuzz run is skipped; run scripts/fuzz.sh"
fi
