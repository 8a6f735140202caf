#!/usr/bin/env bash
# The one test command: sets up what the tests need on a fresh machine, then runs
# every check and test. PostgreSQL is used when reachable on 127.0.0.1:5432 (or
# LEAVER_TEST_POSTGRES_URL); without it, store tests print a notice and run on SQLite
# only — except in CI (CI=true), where PostgreSQL is required.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

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

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast -- --test-threads="${LEAVER_TEST_THREADS:-4}"
