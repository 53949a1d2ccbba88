// Package simulator plays Google against an otpgate deployment: it builds
// the requests of both dialects (fresh requestIds, current timestamps, the
// PIAID), protects them with Google's side of the envelope, reads the
// answers back through it, and runs two things with that client: a
// conformance catalogue (Conformance) and a closed-loop load generator
// (Load). `otpgate simulate` is its command line, a thin shell over
// KeyFiles, GoogleSide and Conformance; the package's own tests run the
// whole catalogue against an in-process server.
//
// # Surfaces
//
// The catalogue is generated from a table of surfaces (Surfaces): the
// legacy methods sendOtp, verifyOtp and echo under /v1/ (standard),
// /e-wallets-v1/ and /korea-e-wallets-v1/, and India Cards' authenticate,
// verifyOtp and resendOtp with /v2/echo in the current dialect. Every legacy
// scenario runs on each legacy surface, named after it
// ("e-wallets: sendOtp/unknown-phone-number"; the standard surface's and
// India Cards' names carry no label), and a scenario both dialects share is
// one row. ConformanceConfig.Surfaces (`--surfaces`, serve's names) says
// which the target serves: the scenarios of the others are skipped and
// surfaces/NAME-off checks that their paths answer the router's 404.
//
// # Google's side of the envelope
//
// Config.Codec is an envelope.Codec used the other way round from the
// server's: Seal protects a request as Google does, Open reads the
// integrator's answer and fails with envelope.ErrUndecryptable or
// envelope.ErrBadSignature. The pgp and jose codecs need no adapter: build
// them with Google's private key as "ours" and the deployment's public key as
// "Google's". The bad-signature scenario takes a second such codec signing
// with a key the deployment does not trust (ConformanceConfig.Impostor), the
// wrong-key scenario one encrypting to a stranger's public key
// (ConformanceConfig.Misdirected); each is skipped, saying so, without it.
// `otpgate simulate` builds all three from key files: --google-pgp-key
// (Google's private key, whose public part the deployment has as
// --pgp-google-key) and --integrator-pgp-key (the public part of the
// deployment's --pgp-key) for the client, --impostor-pgp-key (a private key
// the deployment does not trust) and --stranger-pgp-key (a public key not
// the deployment's) for the probes; the same with -jose- for JOSE, with
// serve's --jose-key-alg, --jose-enc, --jose-sig-alg and --jose-compress.
// Before a run it sends one echo (GoogleSide.Preflight) and stops, naming
// the flag to fix, when the answer shows another scheme or keys that are
// not each other's pairs.
//
// # Fixture accounts
//
// The scenarios and the load play against the accounts of
// testdata/conformance-accounts.jsonl (also printed by `otpgate simulate
// fixtures`), in the format of `otpgate accounts import`: phones
// +917000000001 on for the conformance accounts, +917000100000 on for the
// LoadAccounts load accounts, association ids and account ids starting with
// "sim-", cards from 499999… each with a payment token from 499998… (the
// "tokens" of the import format), and +917000099999 (UnknownPhone) reserved
// as a phone no account may have. Import them into a sandbox with
//
//	otpgate simulate fixtures --out simulator-accounts.jsonl
//	otpgate accounts import --data-dir DIR simulator-accounts.jsonl
//
// Every scenario that spends a send budget owns accounts of its own (see
// PoolSize), on each legacy surface its own ("sim-e-wallets-…"), and moves
// to the next when the budget of one is spent, so the
// catalogue runs again and again against one sandbox with the default
// budgets (at least 10 runs in 15 minutes); OTP_LIMIT_REACHED is produced on
// an account of its own and stays produced while it is limited.
//
// # Conformance against a sandbox
//
//	otpgate serve --insecure-plaintext --data-dir DIR --sms-file sms.jsonl --piaid SANDBOX_PIAID
//	otpgate simulate conformance --target http://127.0.0.1:8080 --insecure-plaintext \
//	    --sms-file sms.jsonl --piaid SANDBOX_PIAID [--json]
//
// and, protected (keys from `otpgate keys generate` and `export-public`):
//
//	otpgate serve --pgp-key ours.asc --pgp-google-key google.pub.asc --data-dir DIR \
//	    --sms-file sms.jsonl --piaid SANDBOX_PIAID
//	otpgate simulate conformance --target http://127.0.0.1:8080 --sms-file sms.jsonl --piaid SANDBOX_PIAID \
//	    --google-pgp-key google.asc --integrator-pgp-key ours.pub.asc \
//	    --impostor-pgp-key impostor.asc --stranger-pgp-key stranger.pub.asc
//
// The sandbox keeps its default budgets (the OTP_LIMIT_REACHED scenario needs
// a --send-limit below --limit-probe). Codes come from the SMS file sink, or
// with --interactive from an operator who types them. The run prints a table
// (or JSON) and exits non-zero when a scenario failed. A few rules cannot be
// driven from outside (an SMS provider failing, a code expiring after five
// minutes, a database outage): they are listed as skipped, with the reason.
//
// # Load
//
//	otpgate serve --pgp-key ours.asc --pgp-google-key google.pub.asc --data-dir DIR --sms-file sms.jsonl \
//	    --send-limit 1000000/1m --fail-limit 1000000/1m
//	otpgate simulate load --target http://127.0.0.1:8080 --sms-file sms.jsonl \
//	    --google-pgp-key google.asc --integrator-pgp-key ours.pub.asc \
//	    --scenario flow --workers 8 --duration 10s --floor
//
// A load target needs generous budgets (--send-limit, --fail-limit): every
// flow and send spends one send of its worker's account. Each worker owns one load account, so no
// worker's send retires another's code. flow reads each code by tailing the
// SMS file (SMSFile keeps its offset and parses only new lines); verify
// measures verifyOtp of an already consumed code (OTP_ALREADY_USED), the
// pure claim, lookup and record path; send measures sendOtp alone. --floor
// adds what the envelope alone allows on this machine (Google's side
// sealing the run's requests and opening its answers on every core, with
// the client's own codec and keys) and the run's throughput as a fraction
// of it. The simulator's sealing mirrors the server's, so when both share
// the machine's cores at most about half the floor is reachable.
package simulator
