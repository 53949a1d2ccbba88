#!/usr/bin/env bash
# Freezes what the release v0.2.0 (commit 56e0e73, tag v0.2.0) leaves in a
# database, for TestE2EUpgrade, which must not need git history (CI clones
# without tags): its migrations of both engines as they were, and the rows
# its binary writes for a few requests. Run it again only to freeze another
# release (change rel and out).
#
#   cmd/otpgate/testdata/upgrade/generate.sh
#
# It builds the old binary from the commit, imports two accounts (one with a
# card) on SQLite, has it answer a sendOtp and its verifyOtp, and a second
# sendOtp whose code stays unused, then dumps every row as INSERT statements
# with their columns (data.sql) and what the answers were (answers.json).
# The secrets and the code are of made-up test accounts, nothing else.
set -euo pipefail
rel=56e0e73
here=$(cd "$(dirname "$0")" && pwd)
out=$here/v0.2.0
root=$(git -C "$here" rev-parse --show-toplevel)
git -C "$root" cat-file -e "$rel^{commit}"

rm -rf "$out"
mkdir -p "$out/sqlite" "$out/postgres"
for engine in sqlite postgres; do
    for f in $(git -C "$root" ls-tree --name-only "$rel" "internal/store/$engine/migrations/"); do
        git -C "$root" show "$rel:$f" >"$out/$engine/$(basename "$f")"
    done
done

tmp=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir "$tmp/src"
git -C "$root" archive "$rel" | tar -x -C "$tmp/src"
(cd "$tmp/src" && CGO_ENABLED=0 go build -o "$tmp/otpgate" ./cmd/otpgate)
old=$tmp/otpgate

# Test secrets of the frozen data (one hex line each: the format of v0.2.0's
# generated files); the test copies them to files of mode 0600.
printf '%s\n' 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff >"$out/code-secret"
printf '%s\n' ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100 >"$out/card-secret"
install -m 0600 "$out/code-secret" "$tmp/code-secret"
install -m 0600 "$out/card-secret" "$tmp/card-secret"
cat >"$tmp/accounts.jsonl" <<'JSONL'
{"accountId":"UP-1","phone":"+919876500001","associationIds":["up-as-1"],"cards":[{"number":"4123456789101112","expiryMonth":"01","expiryYear":"40"}]}
{"accountId":"UP-2","phone":"+919876500002","associationIds":["up-as-2"]}
JSONL
data=$tmp/data
"$old" accounts import --data-dir "$data" --card-secret-file "$tmp/card-secret" "$tmp/accounts.jsonl"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$old" serve --insecure-plaintext --data-dir "$data" --code-secret-file "$tmp/code-secret" --card-secret-file "$tmp/card-secret" \
    --sms-file "$tmp/sms.jsonl" --listen "127.0.0.1:$port" --admin-listen off 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
post() { # path, body
    curl -sf "127.0.0.1:$port$1" -H 'Content-Type: application/json' -d "$2"
}
header() { echo '"requestHeader": {"protocolVersion": {"major": 1, "minor": 0, "revision": 0}, "requestId": "'$1'", "requestTimestamp": "'$(date +%s%3N)'"}'; }
code_of() { sed -n "$1p" "$tmp/sms.jsonl" | sed -n 's/.*code is \([0-9]*\).*/\1/p'; }

send1=$(post /v1/sendOtp "{$(header up-send-1), \"smsMatchingToken\": \"AB12345678C\", \"associationId\": \"up-as-1\"}")
verify1=$(post /v1/verifyOtp "{$(header up-verify-1), \"sendOtpRequestId\": \"up-send-1\", \"otp\": \"$(code_of 1)\"}")
send2=$(post /v1/sendOtp "{$(header up-send-2), \"smsMatchingToken\": \"AB12345678C\", \"associationId\": \"up-as-2\"}")
kill "$pid"; wait "$pid" || true; pid=

{
    echo "-- Rows written by otpgate v0.2.0 ($rel), dumped by generate.sh."
    for table in accounts associations cards tokens requests challenges events; do
        sqlite3 "$data/otpgate.db" ".headers on" ".mode insert $table" "SELECT * FROM $table ORDER BY rowid"
    done
} >"$out/data.sql"
cat >"$out/answers.json" <<JSON
{
  "generatedAtMillis": $(date +%s%3N),
  "schemaVersion": $(sqlite3 "$data/otpgate.db" "SELECT MAX(version) FROM schema_version"),
  "sendOtp": $send1,
  "verifyOtp": $verify1,
  "verifiedCode": "$(code_of 1)",
  "pendingSendOtp": $send2,
  "pendingCode": "$(code_of 2)"
}
JSON
echo "frozen into $out" >&2
