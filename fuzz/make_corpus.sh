#!/usr/bin/env bash
# Builds seed corpora for every fuzz target under fuzz/corpus/<target>/ (git-ignored)
# from the repository's own test fixtures, examples and docs. Run from anywhere:
#   bash fuzz/make_corpus.sh
# Needs only bash, GNU grep (-P) and coreutils. Existing corpus files are kept: libFuzzer
# adds what it finds next to the seeds, and re-running the script only refreshes seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus

seed() { # seed TARGET NAME < bytes
  mkdir -p "$out/$1"
  cat >"$out/$1/seed-$2"
}

# Deterministic pseudo-random bytes: a sha256 chain from a label.
noise() { # noise LABEL BYTES
  local h=$1 n=$2 acc=""
  while [ "${#acc}" -lt $((n * 2)) ]; do
    h=$(printf '%s' "$h" | sha256sum | cut -c1-64)
    acc+=$h
  done
  printf '%s' "${acc:0:$((n * 2))}" | sed 's/../\\x&/g' | xargs -0 printf '%b'
}

# Targeting expressions quoted in code, tests and docs (raw strings and plain strings).
expressions() {
  {
    grep -rhoP 'r#"\K[^#]*?(?="#)' crates/targeting crates/engine crates/sim tests examples README.md docs 2>/dev/null || true
    grep -rhoP 'parse(_with)?\("\K[^"\\]*(?=")' crates tests examples 2>/dev/null || true
    grep -rhoP '"targeting"\s*:\s*"\K[^"\\]*(?=")' tests examples 2>/dev/null || true
  } | grep -E '(^| )(in|=|!=|between|all|>|<|>=|<=|and|or|not|true|false)( |$)' | sort -u
}

# money_parse: amounts as people write them, and amounts quoted in the sources.
i=0
{
  printf '%s\n' 0 1 1.5 0.000001 -2.25 12.345678 9223372036854.775807 -9223372036854.775808 \
    "1e3" " 1" "+1" "1." ".5" "00.10" "1,000.00"
  grep -rhoP 'Money::from_str\("\K[^"]*|"\K-?[0-9]+\.[0-9]{1,8}(?=".parse)' crates tests 2>/dev/null || true
} | sort -u | while IFS= read -r amount; do
  printf '%s' "$amount" | seed money_parse "$i"
  i=$((i + 1))
done

# targeting_parse: mode byte 0 = text mode, then the expression; mode 1 = generated tree.
i=0
while IFS= read -r expr; do
  { printf '\x00'; printf '%s' "$expr"; } | seed targeting_parse "text-$i"
  i=$((i + 1))
done < <(expressions)
for n in 16 64 256 1024; do
  { printf '\x01'; noise "targeting_parse-$n" "$n"; } | seed targeting_parse "tree-$n"
done

# Structured targets read their input through `arbitrary::Unstructured`: seeds of a few
# lengths, so the first runs already build non-trivial inputs.
for target in targeting_index auction attribution engine_ops; do
  for n in 32 128 512 2048; do
    noise "$target-$n" "$n" | seed "$target" "$n"
  done
done
# attribution: one seed per mode (first byte: 0 chaos, 1 state, else differential).
for mode in 0 1 2; do
  { printf "\\x0$mode"; noise "attribution-mode-$mode" 600; } | seed attribution "mode-$mode"
done

# openrtb: the OpenRTB fixtures as they are.
if [ -d tests/fixtures/openrtb ]; then
  for f in tests/fixtures/openrtb/*.json; do
    seed openrtb "$(basename "$f" .json)" <"$f"
  done
fi

# engine_state: state files written by the engine, when a fixture or example left one.
for f in tests/fixtures/state/*.bin; do
  [ -e "$f" ] && seed engine_state "$(basename "$f" .bin)" <"$f"
done
noise engine_state 256 | seed engine_state noise

echo "seed corpora:"
for d in "$out"/*/; do
  printf '  %-18s %4d files\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
