package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/store/pgtest"
)

// TestE2EServeCheck: `serve --check` says OK and exits 0 for a good
// configuration, binding to its SMPP account (and unbinding) but touching
// no file; for a bad one it lists every problem, a DLT mismatch and a
// route to an unknown provider among them, and exits 1.
func TestE2EServeCheck(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	smsFile := filepath.Join(tmp, "sms.jsonl")
	smsc := fakeSMSC(t, "secret")
	good := writeFile(t, tmp, "good.json", `{"sms": {
		"providers": [{"name": "smpp-1", "type": "smpp", "addr": "`+smsc+`", "systemId": "x", "passwordEnv": "E2E_SMPP_PASSWORD"},
		              {"name": "file", "type": "file", "path": "`+smsFile+`"}],
		"routes": {"+91": ["smpp-1", "file"], "default": ["file"]},
		"templates": {"legacy": {"text": `+strconv.Quote(xyzLegacyText)+`, "entityId": "`+xyzEntityID+`",
		                         "templateId": "`+xyzLegacyTID+`", "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzLegacyDLT)+`},
		              "card": {"text": `+strconv.Quote(xyzCardText)+`, "entityId": "`+xyzEntityID+`",
		                       "templateId": "`+xyzCardTID+`", "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzCardDLT)+`}}}}`)
	env := []string{"E2E_SMPP_PASSWORD=secret"}
	code, stdout, stderr := e2eRun(t, 30*time.Second, env, "serve", "--check", "--insecure-plaintext", "--data-dir", dataDir, "--config", good)
	if code != 0 || !strings.Contains(stdout, "configuration OK") || !strings.Contains(stdout, "route +91: smpp-1, file") ||
		!strings.Contains(stdout, "provider smpp-1 (smpp): bound to "+smsc) {
		t.Fatalf("--check of a good configuration: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if fileExists(dataDir) || fileExists(smsFile) {
		t.Error("--check created the data directory or the SMS file")
	}

	bad := writeFile(t, tmp, "bad.json", `{"sms": {
		"providers": [{"name": "file", "type": "file", "path": "`+smsFile+`"}],
		"routes": {"+91": ["smpp-1", "file"]},
		"templates": {"legacy": {"text": "{code} is your code.", "entityId": "`+xyzEntityID+`",
		                         "templateId": "`+xyzLegacyTID+`", "dltTemplate": `+strconv.Quote(xyzLegacyDLT)+`}}}}`)
	code, stdout, stderr = e2eRun(t, 30*time.Second, env, "serve", "--check", "--insecure-plaintext", "--data-dir", dataDir,
		"--config", bad, "--code-length", "4")
	if code != 1 {
		t.Fatalf("--check of a bad configuration: exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"does not match its DLT template", "--code-length 4"} {
		if !strings.Contains(stderr, want) || !strings.Contains(stdout, want) {
			t.Errorf("--check does not report %q on a FAIL line and in its summary:\nstdout: %s\nstderr: %s", want, stdout, stderr)
		}
	}
	if strings.Contains(stdout, "configuration OK") {
		t.Errorf("--check of a bad configuration printed %q", stdout)
	}

	// The route is checked once the templates are right.
	bad = writeFile(t, tmp, "bad-route.json", `{"sms": {
		"providers": [{"name": "file", "type": "file", "path": "`+smsFile+`"}],
		"routes": {"+91": ["smpp-1", "file"]}}}`)
	code, _, stderr = e2eRun(t, 30*time.Second, env, "serve", "--check", "--insecure-plaintext", "--config", bad)
	if code != 1 || !strings.Contains(stderr, `route +91 names provider "smpp-1", which is not configured`) {
		t.Errorf("--check of a route to an unknown provider: exit %d\nstderr: %s", code, stderr)
	}
}

// checkCase is one run of the check and what its report must say.
type checkCase struct {
	name string
	args []string
	env  []string
	code int      // exit status
	want []string // lines (or parts of lines) of standard output
}

func (cc checkCase) run(t *testing.T) {
	t.Helper()
	code, stdout, stderr := e2eRun(t, 60*time.Second, cc.env, cc.args...)
	if code != cc.code {
		t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", cc.name, code, cc.code, stdout, stderr)
		return
	}
	for _, want := range cc.want {
		if !containsLine(stdout, want) {
			t.Errorf("%s: no line with %q in\n%s", cc.name, want, stdout)
		}
	}
	if cc.code != 0 && strings.Contains(stdout, "configuration OK") {
		t.Errorf("%s: a failing check printed OK:\n%s", cc.name, stdout)
	}
}

// containsLine reports whether a line of out starts with the mark and item
// of want (its first two words) and holds the rest.
func containsLine(out, want string) bool {
	f := strings.Fields(want)
	for _, line := range strings.Split(out, "\n") {
		lf := strings.Fields(line)
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(want, f[0])), f[1]))
		if len(f) >= 2 && len(lf) >= 2 && lf[0] == f[0] && lf[1] == f[1] && strings.Contains(line, rest) {
			return true
		}
	}
	return false
}

// TestE2ECheckItems: each item of `serve --check` (and `otpgate doctor`)
// fails through the command line on what would stop or hurt serve, and
// passes on what works: keys (mode, expiry, the probe), secrets files, the
// SQLite schema, SMPP binds and Twilio accounts.
func TestE2ECheckItems(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	key := func(scheme, name string, extra ...string) string {
		out := filepath.Join(tmp, scheme+"-"+name+".key")
		args := append([]string{"keys", "generate", "--scheme", scheme, "--out", out}, extra...)
		if scheme == "jose" {
			args = append(args, "--kid", name)
		}
		if code, _, stderr := e2eRun(t, 60*time.Second, nil, args...); code != 0 {
			t.Fatalf("keys generate: %s", stderr)
		}
		code, pub, stderr := e2eRun(t, 30*time.Second, nil, "keys", "export-public", "--scheme", scheme, "--key", out)
		if code != 0 {
			t.Fatalf("keys export-public: %s", stderr)
		}
		writeFile(t, tmp, scheme+"-"+name+".pub", pub)
		return out
	}
	ours := key("pgp", "ours")
	key("pgp", "google")
	soon := key("pgp", "soon", "--lifetime", "240h")
	joseOurs, joseGoogle := key("jose", "ours"), key("jose", "google")
	googlePub := filepath.Join(tmp, "pgp-google.pub")

	loose := filepath.Join(tmp, "loose.key")
	b, err := os.ReadFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(loose, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	looseSecret := filepath.Join(tmp, "loose-secret")
	if err := os.WriteFile(looseSecret, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(looseSecret, 0o640); err != nil {
		t.Fatal(err)
	}
	goodSecret := writeFile(t, tmp, "code-secret", strings.Repeat("cd", 32)+"\n")

	// An SQLite database of a newer schema: made by serve, then its
	// version raised, as a later release would leave it.
	newer := filepath.Join(tmp, "newer")
	p := e2eServe(t, nil, "--dev", "--data-dir", newer)
	p.signal(os.Interrupt)
	if _, ok := p.wait(30 * time.Second); !ok {
		t.Fatal("serve --dev did not stop")
	}
	bumpSQLiteSchema(t, filepath.Join(newer, databaseFile))

	smsc := fakeSMSC(t, "right")
	twilioAPI := fakeTwilio(t, "AC"+strings.Repeat("0", 32), "the-token", "active")
	suspended := fakeTwilio(t, "AC"+strings.Repeat("0", 32), "the-token", "suspended")
	dead := e2eFreeAddr(t) // nothing listens there

	base := func(args ...string) []string {
		return append([]string{"serve", "--check", "--data-dir", filepath.Join(tmp, "fresh"), "--sms-file", "-"}, args...)
	}
	twilioConfig := func(name, url, tokenEnv string) string {
		return writeFile(t, tmp, name+".json", `{"sms": {"providers": [{"name": "twilio-1", "type": "twilio",
			"accountSid": "AC`+strings.Repeat("0", 32)+`", "authTokenEnv": "`+tokenEnv+`", "from": "+15005550006", "baseUrl": "`+url+`"}]}}`)
	}
	smppConfig := func(name, addr string) string {
		return writeFile(t, tmp, name+".json", `{"sms": {"providers": [{"name": "smpp-1", "type": "smpp", "addr": "`+addr+`",
			"systemId": "otpgate", "passwordEnv": "E2E_SMPP_PASSWORD", "connectTimeout": "3s"}]}}`)
	}

	cases := []checkCase{
		{name: "pgp keys", code: 0, args: base("--pgp-key", ours, "--pgp-google-key", googlePub),
			want: []string{"ok keys pgp ours key", "ok keys a probe signed and encrypted with our keys decrypts and verifies",
				"ok database does not exist yet; serve creates it at schema version"}},
		{name: "doctor", code: 0, args: append([]string{"doctor"}, base("--pgp-key", ours, "--pgp-google-key", googlePub)[2:]...),
			want: []string{"ok keys a probe signed and encrypted with our keys decrypts and verifies"}},
		{name: "jose keys", code: 0, args: base("--jose-key", joseOurs, "--jose-google-key", strings.TrimSuffix(joseGoogle, ".key")+".pub"),
			want: []string{"ok keys jose ours key ours", "ok keys a probe signed and encrypted"}},
		{name: "key readable by others", code: 1, args: base("--pgp-key", loose, "--pgp-google-key", googlePub),
			want: []string{"FAIL keys it must not be readable by group or others"}},
		{name: "key expiring soon", code: 0, args: base("--pgp-key", soon, "--pgp-google-key", googlePub),
			want: []string{"warn keys pgp ours key", "warn keys rotate it", "ok keys a probe"}},
		{name: "secrets readable by others", code: 1, args: base("--insecure-plaintext", "--code-secret-file", looseSecret),
			want: []string{"FAIL secrets code secrets: secret " + looseSecret + " has permissions 0640"}},
		{name: "secrets", code: 0, args: base("--insecure-plaintext", "--code-secret-file", goodSecret),
			want: []string{"ok secrets code secrets: " + goodSecret + ", 1 secret", "warn keys none: plaintext bodies"}},
		{name: "sqlite schema newer", code: 1, args: []string{"serve", "--check", "--dev", "--data-dir", newer},
			want: []string{"FAIL database newer than this binary knows"}},
		{name: "sqlite schema current", code: 0, args: []string{"serve", "--check", "--dev", "--data-dir", filepath.Join(tmp, "newer-not")},
			want: []string{"ok database does not exist yet"}},
		{name: "smpp bound", code: 0, env: []string{"E2E_SMPP_PASSWORD=right"}, args: base("--insecure-plaintext", "--config", smppConfig("smpp-good", smsc)),
			want: []string{"ok sms provider smpp-1 (smpp): bound to " + smsc + " as otpgate"}},
		{name: "smpp wrong password", code: 1, env: []string{"E2E_SMPP_PASSWORD=wrong"}, args: base("--insecure-plaintext", "--config", smppConfig("smpp-wrong", smsc)),
			want: []string{"FAIL sms provider smpp-1 (smpp): no bind"}},
		{name: "smpp nobody listening", code: 1, env: []string{"E2E_SMPP_PASSWORD=right"}, args: base("--insecure-plaintext", "--config", smppConfig("smpp-dead", dead)),
			want: []string{"FAIL sms provider smpp-1 (smpp): no bind"}},
		{name: "smpp not contacted", code: 0, env: []string{"E2E_SMPP_PASSWORD=right"},
			args: base("--insecure-plaintext", "--no-check-providers", "--config", smppConfig("smpp-skip", dead)),
			want: []string{"- sms provider smpp-1 (smpp): settings and secrets read; not contacted"}},
		{name: "http gateway reachable", code: 0, args: base("--insecure-plaintext", "--sms-http-url", twilioAPI+"/send"),
			want: []string{"ok sms provider http (http): " + strings.TrimPrefix(twilioAPI, "http://") + " reachable; no request sent"}},
		{name: "http gateway unreachable", code: 1, args: base("--insecure-plaintext", "--sms-http-url", "http://"+dead+"/send"),
			want: []string{"FAIL sms provider http (http): gateway unreachable"}},
		{name: "twilio active", code: 0, env: []string{"E2E_TWILIO_TOKEN=the-token"}, args: base("--insecure-plaintext", "--config", twilioConfig("tw-good", twilioAPI, "E2E_TWILIO_TOKEN")),
			want: []string{"ok sms provider twilio-1 (twilio): Twilio accepts the Account SID and Auth Token"}},
		{name: "twilio wrong token", code: 1, env: []string{"E2E_TWILIO_TOKEN=not-the-token"}, args: base("--insecure-plaintext", "--config", twilioConfig("tw-wrong", twilioAPI, "E2E_TWILIO_TOKEN")),
			want: []string{"FAIL sms provider twilio-1 (twilio): the Account SID and Auth Token were refused by Twilio"}},
		{name: "twilio suspended", code: 1, env: []string{"E2E_TWILIO_TOKEN=the-token"}, args: base("--insecure-plaintext", "--config", twilioConfig("tw-susp", suspended, "E2E_TWILIO_TOKEN")),
			want: []string{`FAIL sms provider twilio-1 (twilio): the Twilio account is "suspended"`}},
	}
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			cc.run(t)
		})
	}
	if fileExists(filepath.Join(tmp, "fresh")) {
		t.Error("--check created the data directory")
	}
}

// TestE2ECheckPostgres: the database item on PostgreSQL: unreachable,
// migrated, older (fine unless --no-migrate) and newer than the binary.
func TestE2ECheckPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	f := newPGFixture(t, url)
	args := func(url string, extra ...string) []string {
		return append([]string{"serve", "--check", "--insecure-plaintext", "--sms-file", "-", "--database-url", url,
			"--code-secret-file", f.codeSecret, "--card-secret-file", f.cardSecret}, extra...)
	}
	checkCase{name: "current", args: args(url), want: []string{"ok database reachable, schema version"}}.run(t)
	checkCase{name: "unreachable", code: 1, args: args("postgres://otpgate:hunter2@" + e2eFreeAddr(t) + "/otpgate?connect_timeout=2"),
		want: []string{"FAIL database postgres://otpgate:xxxxx@", "FAIL database unreachable"}}.run(t)

	db := pgConn(t, url)
	if _, err := db.Exec(context.Background(), `UPDATE schema_version SET version = version - 1`); err != nil {
		t.Fatal(err)
	}
	checkCase{name: "older", args: args(url), want: []string{"ok database serve migrates it to"}}.run(t)
	checkCase{name: "older, --no-migrate", code: 1, args: args(url, "--no-migrate"),
		want: []string{"FAIL database older than this binary needs", "FAIL database run otpgate migrate first"}}.run(t)
	if _, err := db.Exec(context.Background(), `UPDATE schema_version SET version = version + 2`); err != nil {
		t.Fatal(err)
	}
	checkCase{name: "newer", code: 1, args: args(url), want: []string{"FAIL database newer than this binary knows"}}.run(t)
}

// fakeSMSC answers SMPP binds: bind_resp OK for the password, else
// ESME_RINVPASWD; then unbind and enquire_link.
func fakeSMSC(t *testing.T, password string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var h [16]byte
					if _, err := io.ReadFull(c, h[:]); err != nil {
						return
					}
					n := binary.BigEndian.Uint32(h[0:4])
					if n < 16 || n > 4096 {
						return
					}
					body := make([]byte, n-16)
					if _, err := io.ReadFull(c, body); err != nil {
						return
					}
					cmd, seq := binary.BigEndian.Uint32(h[4:8]), binary.BigEndian.Uint32(h[12:16])
					status, respBody := uint32(0), []byte(nil)
					switch cmd {
					case 0x01, 0x02, 0x09: // bind_receiver, bind_transmitter, bind_transceiver
						fields := strings.SplitN(string(body), "\x00", 3)
						if len(fields) < 2 || fields[1] != password {
							status = 0x0E // ESME_RINVPASWD
						}
						respBody = []byte("FAKESMSC\x00")
					case 0x06, 0x15: // unbind, enquire_link
					default:
						status = 0x03 // ESME_RINVCMDID
					}
					out := make([]byte, 16+len(respBody))
					binary.BigEndian.PutUint32(out[0:4], uint32(len(out)))
					binary.BigEndian.PutUint32(out[4:8], cmd|0x80000000)
					binary.BigEndian.PutUint32(out[8:12], status)
					binary.BigEndian.PutUint32(out[12:16], seq)
					copy(out[16:], respBody)
					if _, err := c.Write(out); err != nil || cmd == 0x06 {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// fakeTwilio answers GET /2010-04-01/Accounts/{sid}.json as Twilio does:
// 401 with error 20003 for a wrong token, else the account and its status.
func fakeTwilio(t *testing.T, sid, token, status string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		switch {
		case r.Method != http.MethodGet || r.URL.Path != "/2010-04-01/Accounts/"+sid+".json":
			http.NotFound(w, r)
		case !ok || user != sid || pass != token:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code": 20003, "message": "Authenticate", "status": 401}`)
		default:
			io.WriteString(w, `{"sid": "`+sid+`", "status": "`+status+`", "type": "Full"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// bumpSQLiteSchema raises the schema version of an SQLite database by one,
// as a later release's migration would.
func bumpSQLiteSchema(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
