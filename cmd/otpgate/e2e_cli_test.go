package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/otpgate/otpgate/internal/server"
	"github.com/otpgate/otpgate/internal/simulator"
	"github.com/otpgate/otpgate/internal/sms"
)

// dbAccounts reads the account directory from a data directory's database,
// read-only, as "id phone status as1;as2" lines in id order.
func dbAccounts(t *testing.T, dataDir string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, databaseFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT a.id, a.phone, a.status, COALESCE(GROUP_CONCAT(s.id, ';'), '')
		FROM accounts a LEFT JOIN (SELECT id, account_id FROM associations ORDER BY id) s ON s.account_id = a.id
		GROUP BY a.id ORDER BY a.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, phone, status, assocs string
		if err := rows.Scan(&id, &phone, &status, &assocs); err != nil {
			t.Fatal(err)
		}
		as := strings.Split(assocs, ";")
		sort.Strings(as)
		out = append(out, fmt.Sprintf("%s %s %s %s", id, phone, status, strings.Join(as, ";")))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectRows runs a query of one text column on a data directory's
// database, read-only, and wants its rows.
func expectRows(t *testing.T, what, dataDir, query string, want ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, databaseFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	expectAccounts(t, what, got, want...)
}

func expectAccounts(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s: the directory holds\n\t%s\nwant\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestE2EAccountsImport loads the directory through the CLI, from JSON lines
// and from CSV; a re-import updates in place, and a file with one bad row
// changes nothing.
func TestE2EAccountsImport(t *testing.T) {
	t.Parallel()
	const (
		oldPhone = "+919876543210"
		newPhone = "+919833333333"
		a2Phone  = "+919812345678"
		c1Phone  = "+919811111111"
	)
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")

	out := importAccounts(t, dataDir, writeFile(t, tmp, "v1.jsonl", ""+
		`{"accountId":"A1","phone":"`+oldPhone+`","status":"active","associationIds":["as-1"]}`+"\n"+
		`{"accountId":"A2","phone":"`+a2Phone+`","associationIds":["as-2","as-2b"]}`+"\n"+
		`{"accountId":"C1","phone":"`+c1Phone+`","status":"closed","associationIds":["as-closed"]}`+"\n"))
	if !strings.Contains(out, "imported 3 accounts") {
		t.Errorf("import output %q: want it to say 3 accounts were imported", out)
	}
	v1 := []string{
		"A1 " + oldPhone + " active as-1",
		"A2 " + a2Phone + " active as-2;as-2b",
		"C1 " + c1Phone + " closed as-closed",
	}
	expectAccounts(t, "after the JSONL import", dbAccounts(t, dataDir), v1...)

	// The same directory as CSV, A1 with a new phone and C1 reopened.
	v2csv := writeFile(t, tmp, "v2.csv", "accountId,phone,status,associationIds\r\n"+
		"A1,"+newPhone+",active,as-1\r\n"+
		"A2,"+a2Phone+",,as-2;as-2b\r\n"+
		"C1,"+c1Phone+",active,as-closed\r\n")
	importAccounts(t, dataDir, v2csv)
	v2 := []string{
		"A1 " + newPhone + " active as-1",
		"A2 " + a2Phone + " active as-2;as-2b",
		"C1 " + c1Phone + " active as-closed",
	}
	expectAccounts(t, "after the CSV re-import", dbAccounts(t, dataDir), v2...)
	importAccounts(t, dataDir, v2csv)
	expectAccounts(t, "after importing the same CSV twice", dbAccounts(t, dataDir), v2...)

	t.Run("bad row changes nothing", func(t *testing.T) {
		for _, f := range []struct{ name, content string }{
			// Line 1 alone would be a valid change of A2's phone.
			{"bad.jsonl", `{"accountId":"A2","phone":"` + oldPhone + `"}` + "\n" +
				`{"accountId":"A4","phone":"+919844444444"}` + "\n" +
				`{"accountId":"A3","phone":"+9112"}` + "\n"},
			{"bad.csv", "accountId,phone\n" +
				"A2," + oldPhone + "\n" +
				"A3,+9112\n"},
		} {
			code, stdout, stderr := e2eRun(t, 30*time.Second, nil, "accounts", "import", "--data-dir", dataDir,
				writeFile(t, tmp, f.name, f.content))
			if code == 0 {
				t.Errorf("%s: exit status 0, want a failure\nstdout: %s", f.name, stdout)
			}
			if !strings.Contains(stderr, "line 3") {
				t.Errorf("%s: the error does not name line 3:\n%s", f.name, stderr)
			}
			if !strings.Contains(stderr, "nothing imported") {
				t.Errorf("%s: the error does not say that nothing was imported:\n%s", f.name, stderr)
			}
			if strings.Contains(stderr, "+9112") {
				t.Errorf("%s: the error repeats the bad phone number in full:\n%s", f.name, stderr)
			}
			expectAccounts(t, "after a failed import of "+f.name, dbAccounts(t, dataDir), v2...)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		const (
			card   = "4111111111111111"
			token  = "4895370012003478"
			token2 = "4895370012009999"
		)
		dir := filepath.Join(tmp, "tokens")
		// A token may carry a card's number: tokens are kept apart.
		importAccounts(t, dir, writeFile(t, tmp, "tokens.jsonl",
			`{"accountId":"T1","phone":"+919822222222","cards":[{"number":"`+card+`","expiryMonth":"01","expiryYear":"30"}],`+
				`"tokens":[{"number":"`+card+`"},{"number":"`+token2+`","expiryMonth":"06","expiryYear":"29"}]}`+"\n"))
		expectRows(t, "tokens after the JSONL import", dir,
			`SELECT a.id || ' ' || t.last4 || ' ' || t.expiry_year || '/' || t.expiry_month FROM tokens t JOIN accounts a ON a.id = t.account_id ORDER BY t.last4`,
			"T1 1111 0/0", "T1 9999 2029/6")
		// A re-import replaces them, from CSV.
		importAccounts(t, dir, writeFile(t, tmp, "tokens.csv", "accountId,phone,cards,tokens\n"+
			"T1,+919822222222,"+card+"/01/30,"+token+"\n"))
		expectRows(t, "tokens after the CSV re-import", dir, `SELECT account_id || ' ' || last4 FROM tokens`, "T1 3478")
		expectRows(t, "cards after the CSV re-import", dir, `SELECT account_id || ' ' || last4 FROM cards`, "T1 1111")
		// Only keyed hashes are stored: no number is in the database in clear.
		files, _ := filepath.Glob(filepath.Join(dir, databaseFile+"*"))
		if len(files) == 0 {
			t.Fatal("no database file to scan")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{card, token, token2} {
				if strings.Contains(string(b), n) {
					t.Errorf("%s holds the number ending %s in clear", filepath.Base(f), n[len(n)-4:])
				}
			}
		}
	})

	t.Run("unknown extension", func(t *testing.T) {
		code, _, stderr := e2eRun(t, 30*time.Second, nil, "accounts", "import", "--data-dir", dataDir,
			writeFile(t, tmp, "accounts.txt", `{"accountId":"A9","phone":"+919844444444"}`+"\n"))
		if code == 0 {
			t.Error("a .txt file was imported")
		}
		if !strings.Contains(stderr, ".jsonl") || !strings.Contains(stderr, ".csv") {
			t.Errorf("the error does not name the supported extensions:\n%s", stderr)
		}
		expectAccounts(t, "after a refused .txt", dbAccounts(t, dataDir), v2...)
	})

	t.Run("served", func(t *testing.T) {
		smsFile := filepath.Join(tmp, "sms.jsonl")
		p := e2eServe(t, nil, "--insecure-plaintext", "--data-dir", dataDir, "--sms-file", smsFile)
		expectResult(t, "sendOtp to A1's new phone", p.sendOtp("imp-1", map[string]any{"accountPhoneNumber": newPhone}), "SUCCESS")
		expectResult(t, "sendOtp to A1's old phone", p.sendOtp("imp-2", map[string]any{"accountPhoneNumber": oldPhone}), "UNKNOWN_PHONE_NUMBER")
		expectResult(t, "sendOtp to as-1 with the old phone", p.sendOtp("imp-3",
			map[string]any{"associationId": "as-1", "accountPhoneNumber": oldPhone}), "PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT")
		expectResult(t, "sendOtp to as-2b", p.sendOtp("imp-4", map[string]any{"associationId": "as-2b"}), "SUCCESS")
		expectResult(t, "sendOtp to the reopened C1", p.sendOtp("imp-5", map[string]any{"associationId": "as-closed"}), "SUCCESS")
		msgs, err := sms.ReadFile(smsFile)
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		for _, m := range msgs {
			to = append(to, m.To)
		}
		if got, want := strings.Join(to, " "), newPhone+" "+a2Phone+" "+c1Phone; got != want {
			t.Errorf("SMS went to %s, want %s", got, want)
		}
	})
}

// TestE2EStartupRefusals: a configuration that cannot work stops serve at
// once, with a non-zero status and a message that says what to do.
func TestE2EStartupRefusals(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	openSecret := writeFile(t, tmp, "open-secret", strings.Repeat("ab", 32)+"\n")
	if err := os.Chmod(openSecret, 0o644); err != nil {
		t.Fatal(err)
	}
	smsFile := filepath.Join(tmp, "sms.jsonl")
	for _, tc := range []struct {
		name string
		args []string
		want []string // all in standard error
	}{
		{"no plaintext switch", []string{"--sms-file", smsFile},
			[]string{"no message protection", "--dev", "--insecure-plaintext"}},
		{"template without {code}", []string{"--insecure-plaintext", "--sms-file", smsFile, "--sms-template", "Your code is below."},
			[]string{"--sms-template", "{code}"}},
		{"template too long", []string{"--insecure-plaintext", "--sms-file", smsFile,
			"--sms-template", "Your code is {code}. " + strings.Repeat("Never share it. ", 9)},
			[]string{"--sms-template", "too long", "over the limit of 160"}},
		{"no SMS provider", []string{"--insecure-plaintext"},
			[]string{"no SMS provider", "--sms-http-url", "--sms-file"}},
		{"code secret readable by others", []string{"--insecure-plaintext", "--sms-file", smsFile, "--code-secret-file", openSecret},
			[]string{"open-secret", "0644", "chmod 600"}},
		{"claim lease not above SMS timeout", []string{"--insecure-plaintext", "--sms-file", smsFile, "--sms-timeout", "10s", "--claim-lease", "10s"},
			[]string{"--claim-lease", "must exceed --sms-timeout"}},
		{"base path without a leading slash", []string{"--insecure-plaintext", "--sms-file", smsFile, "--base-path", "otp"},
			[]string{"--base-path", "leading /"}},
		{"base path with a pattern character", []string{"--insecure-plaintext", "--sms-file", smsFile, "--base-path", "/otp/{x}"},
			[]string{"--base-path"}},
		{"purge interval of zero", []string{"--insecure-plaintext", "--sms-file", smsFile, "--purge-interval", "0s"},
			[]string{"--purge-interval"}},
		{"retention shorter than a day", []string{"--insecure-plaintext", "--sms-file", smsFile, "--retention", "1h"},
			[]string{"--retention", "at least 24h"}},
		{"code length out of range", []string{"--insecure-plaintext", "--sms-file", smsFile, "--code-length", "4"},
			[]string{"--code-length"}},
		{"unknown surface", []string{"--insecure-plaintext", "--sms-file", smsFile, "--surfaces", "standard,wallets"},
			[]string{"--surfaces", `"wallets"`, "e-wallets"}},
		{"cvnResult not Google's", []string{"--insecure-plaintext", "--sms-file", smsFile, "--cvn-result", "MAYBE"},
			[]string{"--cvn-result", "MAYBE", "CVN_RESULT_NOT_DETERMINED"}},
		{"authenticate shape of two members", []string{"--insecure-plaintext", "--sms-file", smsFile,
			"--authenticate-shape", `native-otp-sent={"a":{},"b":{}}`},
			[]string{"--authenticate-shape", "native-otp-sent", "exactly one member"}},
		{"authenticate shape of no outcome", []string{"--insecure-plaintext", "--sms-file", smsFile,
			"--authenticate-shape", `otp-sent={"a":{}}`},
			[]string{"--authenticate-shape", "no such outcome", "native-otp-sent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, tc.args...)
			start := time.Now()
			code, _, stderr := e2eRun(t, 10*time.Second, nil, args...)
			if code == 0 {
				t.Fatalf("serve %s: exit status 0, want a refusal", strings.Join(tc.args, " "))
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("standard error does not say %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "listening") {
				t.Errorf("the server started listening before refusing:\n%s", stderr)
			}
			t.Logf("refused in %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr))
		})
	}
}

// TestE2EConfigSources sets the code length from a flag, an OTPGATE_*
// variable and a --config JSON file keyed by flag names, and pins their
// precedence: flag, then environment, then config file, then the default.
func TestE2EConfigSources(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	config := func(name, json string) string { return writeFile(t, tmp, name, json) }
	file9 := config("file9.json", `{"code-length": 9}`)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"default", nil, nil, 6},
		{"flag", nil, []string{"--code-length", "8"}, 8},
		{"env", []string{"OTPGATE_CODE_LENGTH=8"}, nil, 8},
		{"config key spelt like the flag", nil, []string{"--config", config("dash8.json", `{"code-length": 8}`)}, 8},
		{"config named by OTPGATE_CONFIG", []string{"OTPGATE_CONFIG=" + file9}, nil, 9},
		{"flag over env", []string{"OTPGATE_CODE_LENGTH=8"}, []string{"--code-length", "7"}, 7},
		{"flag over config", nil, []string{"--code-length", "7", "--config", file9}, 7},
		{"env over config", []string{"OTPGATE_CODE_LENGTH=8"}, []string{"--config", file9}, 8},
		{"flag over both", []string{"OTPGATE_CODE_LENGTH=8"}, []string{"--config", file9, "--code-length", "7"}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := codeLengthServed(t, tc.env, tc.args...); got != tc.want {
				t.Errorf("codes of %d digits, want %d", got, tc.want)
			}
		})
	}

	// A key that names no flag (a typo, or another program's spelling) is
	// refused rather than silently ignored.
	for _, bad := range []string{`{"code_length": 8}`, `{"codeLength": 8}`, `{"code-lenght": 8}`} {
		t.Run("unknown key "+bad, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(e2eBinary, "--config", config(fmt.Sprintf("bad%d.json", len(bad)+int(bad[3])), bad),
				"serve", "--dev", "--data-dir", t.TempDir()).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "unknown setting") {
				t.Errorf("a config with %s was not refused: %v\n%s", bad, err, out)
			}
		})
	}
}

// codeLengthServed starts a --dev server with an SMS file, sends one code and
// returns its number of digits.
func codeLengthServed(t *testing.T, env []string, args ...string) int {
	t.Helper()
	dir := t.TempDir()
	smsFile := filepath.Join(dir, "sms.jsonl")
	p := e2eServe(t, env, append([]string{"--dev", "--data-dir", filepath.Join(dir, "data"), "--sms-file", smsFile}, args...)...)
	expectResult(t, "sendOtp", p.sendOtp("cfg-1", map[string]any{"accountPhoneNumber": "+919876543210"}), "SUCCESS")
	msgs, err := sms.ReadFile(smsFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d SMS in the file, want 1", len(msgs))
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("with --sms-file, --dev still wrote to standard output: %q", out)
	}
	return len(smsCode(t, msgs[0].Text))
}

// TestE2EAuthenticateShapeFromConfig: an operator given the exact shape by
// Google writes it into the config file as JSON objects, and authenticate
// answers with it; the outcomes not overridden keep their defaults. (A card
// no account has: the answer does not depend on the date.)
func TestE2EAuthenticateShapeFromConfig(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	config := writeFile(t, tmp, "shape.json", `{"authenticate-shape": {
		"native-otp-not-supported": {"nativeOtpNotSupported": {"reason": {"notSupportedByIssuer": {}}}}},
		"cvn-result": "NOT_VERIFIED"}`)
	p := e2eServe(t, nil, "--dev", "--data-dir", filepath.Join(tmp, "data"), "--sms-file", filepath.Join(tmp, "sms.jsonl"),
		"--config", config)
	hdr := map[string]any{"protocolVersion": map[string]any{"major": 1}, "requestId": "auth-1",
		"requestTimestamp": map[string]any{"epochMillis": fmt.Sprint(time.Now().UnixMilli())}, "paymentIntegratorAccountId": demoPIAID}
	r := p.mustPost("/v1/payment-integrator-authenticated-card-fop-api/authenticate", map[string]any{
		"requestHeader":                hdr,
		"accountDetails":               map[string]any{"card": map[string]any{"accountNumber": "4000056655665556", "expiryMonth": "01", "expiryYear": "30"}},
		"amount":                       map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
		"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
	})
	for _, want := range []string{
		`"nativeOtpResultCase":{"nativeOtpNotSupported":{"reason":{"notSupportedByIssuer":{}}}}`,
		`"redirectUrlResultCase":{"redirectUrlNotRequested":{}}`,
		`"cvnResult":"NOT_VERIFIED"`,
	} {
		if r.status != 200 || !strings.Contains(r.raw, want) {
			t.Errorf("the answer lacks %s: %d %s", want, r.status, r.raw)
		}
	}
}

// The surface names are written in the server's table, the simulator's (it
// plays Google independently) and the two flags' defaults: they must agree.
func TestSurfaceNamesAgree(t *testing.T) {
	want := strings.Join(server.SurfaceNames(), ",")
	if got := strings.Join(simulator.SurfaceNames(), ","); got != want {
		t.Errorf("the simulator's surfaces %s, the server's %s", got, want)
	}
	for _, cmd := range []any{&serveCmd{}, &simulateConformanceCmd{}} {
		f, ok := reflect.TypeOf(cmd).Elem().FieldByName("Surfaces")
		if !ok || f.Tag.Get("default") != want {
			t.Errorf("%T: --surfaces default %q, want %q", cmd, f.Tag.Get("default"), want)
		}
	}
}
