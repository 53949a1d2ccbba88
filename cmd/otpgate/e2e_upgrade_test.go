package main

// Upgrades from the previous release, without git history: the release's
// migrations and the rows its binary wrote are frozen in
// testdata/upgrade/v0.2.0 (generate.sh made them from commit 56e0e73, tag
// v0.2.0). The old schema is built from those migrations, as the old
// binary's runner did (schema_version holding the last version applied),
// the old rows go in, and this binary takes over through its public
// commands only: serve (SQLite) and migrate then serve --no-migrate
// (PostgreSQL), whatever their migration code looks like inside.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/store/pgtest"
)

// upgradeFrom is the frozen release.
var upgradeFrom = filepath.Join("testdata", "upgrade", "v0.2.0")

// oldAnswers is answers.json: what the old release answered.
type oldAnswers struct {
	GeneratedAtMillis int64 `json:"generatedAtMillis"`
	SchemaVersion     int   `json:"schemaVersion"`
	SendOtp           struct {
		ID string `json:"paymentIntegratorSendOtpId"`
	} `json:"sendOtp"`
	VerifyOtp struct {
		ID string `json:"paymentIntegratorVerifyOtpId"`
	} `json:"verifyOtp"`
	PendingSendOtp struct {
		ID string `json:"paymentIntegratorSendOtpId"`
	} `json:"pendingSendOtp"`
	VerifiedCode string `json:"verifiedCode"`
	PendingCode  string `json:"pendingCode"`
}

// oldDB is a database in the old release's schema and rows, through
// database/sql for SQLite or pgx's stdlib-free connection for PostgreSQL.
type oldDB interface {
	exec(t *testing.T, query string)
	count(t *testing.T, table string) int
}

type sqliteDB struct{ db *sql.DB }

func (d sqliteDB) exec(t *testing.T, q string) {
	t.Helper()
	if _, err := d.db.Exec(q); err != nil {
		t.Fatalf("%v\n%.300s", err, q)
	}
}

func (d sqliteDB) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type pgDB struct{ url string }

func (d pgDB) exec(t *testing.T, q string) {
	t.Helper()
	// pgx runs a query without arguments with the simple protocol, which
	// takes a file of several statements.
	if _, err := pgConn(t, d.url).Exec(context.Background(), q); err != nil {
		t.Fatalf("%v\n%.300s", err, q)
	}
}

func (d pgDB) count(t *testing.T, table string) int {
	t.Helper()
	return pgQueryInt(t, pgConn(t, d.url), `SELECT COUNT(*) FROM `+table)
}

// createOldSchema applies the frozen migrations of engine as the old
// runner did, then the old rows, their times moved to now.
func createOldSchema(t *testing.T, db oldDB, engine string, a oldAnswers) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(upgradeFrom, engine, "*.sql"))
	if err != nil || len(files) != a.SchemaVersion {
		t.Fatalf("%d frozen %s migrations (%v), want %d", len(files), engine, err, a.SchemaVersion)
	}
	sort.Strings(files)
	db.exec(t, `CREATE TABLE schema_version (version INTEGER NOT NULL)`)
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		db.exec(t, string(b))
		db.exec(t, fmt.Sprintf(`DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (%d)`, i+1))
	}
	b, err := os.ReadFile(filepath.Join(upgradeFrom, "data.sql"))
	if err != nil {
		t.Fatal(err)
	}
	rows := string(b)
	if engine == "postgres" { // SQLite's blob literals as PostgreSQL's bytea
		rows = regexp.MustCompile(`X'([0-9a-fA-F]*)'`).ReplaceAllString(rows, `'\x$1'`)
	}
	db.exec(t, rows)
	// The rows as if written a second ago, so that the code is live and the
	// records within their retention.
	d := time.Now().UnixMilli() - 1000 - a.GeneratedAtMillis
	db.exec(t, fmt.Sprintf(`UPDATE accounts SET updated_at = updated_at + %[1]d;
		UPDATE requests SET claimed_at = claimed_at + %[1]d, created_at = created_at + %[1]d;
		UPDATE challenges SET created_at = created_at + %[1]d, expires_at = expires_at + %[1]d;
		UPDATE events SET at = at + %[1]d`, d))
}

func readOldAnswers(t *testing.T) oldAnswers {
	t.Helper()
	var a oldAnswers
	b, err := os.ReadFile(filepath.Join(upgradeFrom, "answers.json"))
	if err == nil {
		err = json.Unmarshal(b, &a)
	}
	if err != nil || a.PendingCode == "" || a.VerifiedCode == "" || a.SendOtp.ID == "" {
		t.Fatalf("answers.json: %v (%+v)", err, a)
	}
	return a
}

// secretCopy copies a frozen secrets file to one of mode 0600, as serve
// requires (git keeps no modes but the executable bit).
func secretCopy(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(upgradeFrom, name))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, string(b))
}

// TestE2EUpgrade: this binary takes over a database of the previous
// release, on SQLite and on PostgreSQL. Nothing is lost: a retried sendOtp
// and verifyOtp of the old release get their old answers (same ids, no new
// SMS), the code the old release sent and nobody used yet verifies, the
// accounts and the card (by its keyed hash) are found, and new requests
// work. Then a schema newer than this binary knows is refused, by the same
// check that the old release makes (migrate: "newer than this binary").
func TestE2EUpgrade(t *testing.T) {
	t.Parallel()
	a := readOldAnswers(t)
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			smsFile := filepath.Join(tmp, "sms.jsonl")
			var args []string // of the database: serve's and migrate's
			var db oldDB
			if engine == "sqlite" {
				dataDir := filepath.Join(tmp, "data")
				if err := os.Mkdir(dataDir, 0o700); err != nil {
					t.Fatal(err)
				}
				s, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, databaseFile))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				s.SetMaxOpenConns(1)
				db = sqliteDB{s}
				args = append(args, "--data-dir", dataDir)
			} else {
				url := pgtest.NewEmptyDatabase(t)
				db = pgDB{url}
				args = append(args, "--database-url", url)
			}
			createOldSchema(t, db, engine, a)
			before := map[string]int{}
			for _, table := range []string{"accounts", "associations", "cards", "requests", "challenges"} {
				before[table] = db.count(t, table)
			}
			if engine == "sqlite" {
				db.(sqliteDB).db.Close() // serve is the only user of its file
			}

			serveArgs := append([]string{"--insecure-plaintext", "--sms-file", smsFile, "--piaid", "UPGRADE_PIAID",
				"--code-secret-file", secretCopy(t, tmp, "code-secret"), "--card-secret-file", secretCopy(t, tmp, "card-secret")}, args...)
			if engine == "postgres" {
				// The README's rollout: migrate once, then instances that
				// do not migrate.
				code, stdout, stderr := e2eRun(t, 60*time.Second, nil, append([]string{"migrate"}, args...)...)
				// "up to date" while this release adds no migration.
				if code != 0 || !strings.Contains(stdout, "migrated the PostgreSQL schema to version") && !strings.Contains(stdout, "up to date") {
					t.Fatalf("otpgate migrate of the old schema: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
				}
				serveArgs = append(serveArgs, "--no-migrate")
			}
			p := e2eServe(t, nil, serveArgs...)

			r := p.sendOtp("up-send-1", map[string]any{"associationId": "up-as-1"})
			expectResult(t, "the old release's sendOtp, retried", r, "SUCCESS")
			if got := r.str("paymentIntegratorSendOtpId"); got != a.SendOtp.ID {
				t.Errorf("the retried sendOtp answers id %q, the old release answered %q", got, a.SendOtp.ID)
			}
			r = p.verifyOtp("up-verify-1", "up-send-1", a.VerifiedCode)
			expectResult(t, "the old release's verifyOtp, retried", r, "SUCCESS")
			if got := r.str("paymentIntegratorVerifyOtpId"); got != a.VerifyOtp.ID {
				t.Errorf("the retried verifyOtp answers id %q, the old release answered %q", got, a.VerifyOtp.ID)
			}
			expectResult(t, "the old release's used code, under a new requestId",
				p.verifyOtp("up-verify-1b", "up-send-1", a.VerifiedCode), "OTP_ALREADY_USED")
			r = p.sendOtp("up-send-2", map[string]any{"associationId": "up-as-2"})
			expectResult(t, "the old release's second sendOtp, retried", r, "SUCCESS")
			if got := r.str("paymentIntegratorSendOtpId"); got != a.PendingSendOtp.ID {
				t.Errorf("the retried second sendOtp answers id %q, the old release answered %q", got, a.PendingSendOtp.ID)
			}
			if msgs, _ := sms.ReadFile(smsFile); len(msgs) != 0 {
				t.Errorf("retries of the old release's sendOtps sent %d SMS", len(msgs))
			}
			expectResult(t, "the code the old release sent, verified after the upgrade",
				p.verifyOtp("up-verify-2", "up-send-2", a.PendingCode), "SUCCESS")

			// The directory, cards included, is this binary's now.
			expectResult(t, "a new sendOtp to an account the old release imported",
				p.sendOtp("up-send-3", map[string]any{"associationId": "up-as-1"}), "SUCCESS")
			auth := p.mustPost("/v1/payment-integrator-authenticated-card-fop-api/authenticate", map[string]any{
				"requestHeader": map[string]any{"protocolVersion": map[string]any{"major": 1}, "requestId": "up-auth-1",
					"requestTimestamp": map[string]any{"epochMillis": fmt.Sprint(time.Now().UnixMilli())}, "paymentIntegratorAccountId": "UPGRADE_PIAID"},
				"accountDetails":               map[string]any{"card": map[string]any{"accountNumber": "4123456789101112", "expiryMonth": "01", "expiryYear": "40"}},
				"amount":                       map[string]any{"amountMicros": "1000000", "currencyCode": "INR"},
				"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
			})
			if !strings.Contains(auth.raw, "otpSent") {
				t.Errorf("authenticate with the card the old release imported: %s", auth.raw)
			}
			p.signal(os.Interrupt)
			if _, ok := p.wait(30 * time.Second); !ok {
				t.Fatal("serve did not stop")
			}

			if engine == "sqlite" {
				s, err := sql.Open("sqlite", "file:"+filepath.Join(tmp, "data", databaseFile))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				db = sqliteDB{s}
			}
			for table, n := range before {
				if after := db.count(t, table); after < n {
					t.Errorf("table %s: %d rows before the upgrade, %d after", table, n, after)
				}
			}

			// A schema newer than this binary: what the next release leaves
			// behind for a rollback.
			db.exec(t, `UPDATE schema_version SET version = version + 1`)
			if engine == "sqlite" {
				db.(sqliteDB).db.Close()
			}
			code, _, stderr := e2eRun(t, 30*time.Second, nil, append([]string{"migrate"}, args...)...)
			if code == 0 || !strings.Contains(stderr, "newer than this binary") {
				t.Errorf("otpgate migrate on a newer schema: exit %d, want a refusal\nstderr: %s", code, stderr)
			}
			code, _, stderr = e2eRun(t, 30*time.Second, nil, append([]string{"serve"}, serveArgs...)...)
			if code == 0 || !strings.Contains(stderr, "newer than this binary") {
				t.Errorf("otpgate serve on a newer schema: exit %d, want a refusal\nstderr: %s", code, stderr)
			}
			if old := os.Getenv("OTPGATE_TEST_OLD_BINARY"); old != "" && engine == "sqlite" {
				oldRefuses(t, old, args)
			}
		})
	}
}

// oldRefuses runs the old release's binary (opt-in: OTPGATE_TEST_OLD_BINARY
// names one, built from commit 56e0e73, e.g. by
// `git worktree add /tmp/v0.2.0 v0.2.0 && cd /tmp/v0.2.0 && go build ./cmd/otpgate`)
// on the schema this binary wrote, one version newer than it: it refuses.
func oldRefuses(t *testing.T, old string, args []string) {
	t.Helper()
	out, err := exec.Command(old, append([]string{"migrate"}, args...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "newer than this binary") {
		t.Errorf("the old release's migrate on a newer schema: %v, want a refusal\n%s", err, out)
	}
}
