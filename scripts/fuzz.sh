#!/usr/bin/env bash
# Fuzz Leaver's parsers of hostile input (fuzz/: plan YAML, Okta event hook bodies,
# SCIM User/PatchOp bodies, Graph change notifications, Vault audit lines and
# CloudTrail records) with cargo-fuzz / libFuzzer.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # default: 20 s for each of every target
#
# Installs cargo-fuzz into ~/.cargo/bin when missing. The toolchain is stable Rust:
# cargo-fuzz's -Z flags need RUSTC_BOOTSTRAP=1, set here for cargo-fuzz only.
# Build output goes to fuzz/target. Each run starts from the committed seeds
# (fuzz/corpus/<target>/) and keeps what it learns in fuzz/target/corpus/<target>/.
# A crash (panic, overflow, timeout, out-of-memory) fails the script and prints the
# path of the input that caused it (fuzz/artifacts/<target>/…); reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none <target> <path>
#
# Environment: FUZZ_SANITIZER (default `none`: the code is safe Rust; `address` for
# ASan), FUZZ_MAX_LEN (bytes per input, default 65536), FUZZ_TARGET_DIR (where the
# instrumented build goes, default fuzz/target; CI points it at a cache that outlives
# the checkout, since a cold build of the whole dependency tree takes many minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"
max_len="${FUZZ_MAX_LEN:-65536}"
target_dir="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
mkdir -p fuzz/target

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

started=$(date +%s)
echo "==> cargo fuzz build (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir"
echo "    built in $(( $(date +%s) - started ))s"

failed=()
for target in "${targets[@]}"; do
    seeds="fuzz/corpus/$target"
    work="fuzz/target/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$work" "$artifacts"
    before=$(find "$artifacts" -type f | sort)
    echo "==> fuzzing $target for ${seconds}s"
    run_started=$(date +%s)
    if ! cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$target" "$work" "$seeds" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 >"fuzz/target/$target.log" 2>&1; then
        tail -n 40 "fuzz/target/$target.log"
        echo "FAILED: $target crashed; the input that crashed it:"
        comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | sed 's/^/    /'
        failed+=("$target")
    else
        grep -E '^(stat::number_of_executed_units|stat::new_units_added)' \
            "fuzz/target/$target.log" | sed 's/^/    /' || true
    fi
    echo "    $target: $(( $(date +%s) - run_started ))s"
done

echo "==> fuzzing took $(( $(date +%s) - started ))s in all"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz targets that crashed: ${failed[*]}"
    exit 1
fi
