package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// e2eGet GETs url and returns the status and the body.
func e2eGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := e2eClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestE2EAdminPort: /metrics and pprof answer on --admin-listen only, not on
// the port Google calls; /healthz and /readyz answer on both.
func TestE2EAdminPort(t *testing.T) {
	t.Parallel()
	p := e2eServe(t, nil, "--dev", "--data-dir", t.TempDir())
	if r := p.mustPost("/v1/echo", map[string]any{"requestHeader": e2eHeader("echo-1"), "clientMessage": "hi"}); r.status != http.StatusOK {
		t.Fatalf("echo: %d %s", r.status, r.raw)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if s, _ := e2eGet(t, p.url+path); s != http.StatusNotFound {
			t.Errorf("GET %s on Google's port: %d, want 404", path, s)
		}
	}
	for _, base := range []string{p.url, p.admin} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if s, _ := e2eGet(t, base+path); s != http.StatusOK {
				t.Errorf("GET %s%s: %d, want 200", base, path, s)
			}
		}
	}
	if s, body := e2eGet(t, p.admin+"/metrics"); s != http.StatusOK || !strings.Contains(body, `otpgate_requests_total{method="echo",result="ECHO",status="200"} 1`) ||
		!strings.Contains(body, "otpgate_shed_total 0") {
		t.Errorf("GET /metrics on the admin port: %d, want 200 counting the echo and no shed request:\n%.3000s", s, body)
	}
	if s, body := e2eGet(t, p.admin+"/debug/pprof/"); s != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/ on the admin port: %d %.200q", s, body)
	}
	if s, body := e2eGet(t, p.admin+"/debug/pprof/cmdline"); s != http.StatusOK || !strings.Contains(body, "serve") {
		t.Errorf("GET /debug/pprof/cmdline on the admin port: %d %.200q", s, body)
	}
	if !p.logged("admin=" + strings.TrimPrefix(p.admin, "http://")) {
		t.Errorf("the start-up line does not name the admin port:\n%s", p.stderr)
	}

	// --admin-listen off: no second port, Google's still without metrics.
	addr := e2eFreeAddr(t)
	off := e2eStart(t, nil, "serve", "--dev", "--data-dir", t.TempDir(), "--listen", addr, "--admin-listen", "off")
	off.url = "http://" + addr
	if err := off.waitHealthy(15 * time.Second); err != nil {
		t.Fatalf("serve --admin-listen off: %v\n%s", err, off.stderr)
	}
	if !off.logged("admin=off") {
		t.Errorf("the start-up line does not say the admin port is off:\n%s", off.stderr)
	}
	if s, _ := e2eGet(t, off.url+"/metrics"); s != http.StatusNotFound {
		t.Errorf("GET /metrics with --admin-listen off: %d, want 404", s)
	}
}

// TestE2EUsageError: a mistaken flag gets the one line that says what is
// wrong and a short usage line on standard error, exit status 2, not the
// whole help.
func TestE2EUsageError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "--listn", "127.0.0.1:0"}, []string{`unknown flag --listn, did you mean "--listen"?`, "usage: otpgate serve [flags]", `"otpgate serve --help"`}},
		{[]string{"serve", "--max-in-flight", "many"}, []string{"--max-in-flight", "usage: otpgate serve [flags]"}},
		{[]string{"accounts", "import"}, []string{`expected "<file>"`, "usage: otpgate accounts import <file> [flags]"}},
		{[]string{"serv"}, []string{"serv", "usage: otpgate"}},
	} {
		code, stdout, stderr := e2eRun(t, 10*time.Second, nil, tc.args...)
		what := strings.Join(tc.args, " ")
		if code != 2 {
			t.Errorf("otpgate %s: exit status %d, want 2", what, code)
		}
		if stdout != "" {
			t.Errorf("otpgate %s printed on standard output (%d lines), want nothing:\n%.300s", what, strings.Count(stdout, "\n"), stdout)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n") + 1; n != 2 {
			t.Errorf("otpgate %s: %d lines on standard error, want 2 (the error, the usage):\n%.1000s", what, n, stderr)
		}
		if !strings.HasPrefix(stderr, "otpgate: ") {
			t.Errorf("otpgate %s: the error is not the first line:\n%.300s", what, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("otpgate %s: standard error does not say %q:\n%s", what, w, stderr)
			}
		}
	}
}

// TestE2EPortInUse: a port that cannot be listened on refuses the start
// before the store is opened or the purger started, so no "purge failed:
// database is closed" follows the refusal and the data directory is not
// created.
func TestE2EPortInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() }) // after the parallel subtests, unlike a defer
	for _, tc := range []struct {
		name, flag string
		args       []string
	}{
		{"listen", "--listen", []string{"--listen", taken.Addr().String()}},
		{"admin", "--admin-listen", []string{"--listen", "127.0.0.1:0", "--admin-listen", taken.Addr().String()}},
		{"unparsable", "--listen", []string{"--listen", "127.0.0.1:99999"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			code, _, stderr := e2eRun(t, 20*time.Second, nil, append([]string{"serve", "--dev", "--data-dir", dataDir}, tc.args...)...)
			if code == 0 {
				t.Fatal("exit status 0, want a refusal")
			}
			if !strings.Contains(stderr, tc.flag+":") {
				t.Errorf("the refusal does not name %s:\n%s", tc.flag, stderr)
			}
			for _, bad := range []string{"purge failed", "database is closed", "listening"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("standard error says %q:\n%s", bad, stderr)
				}
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created before the refusal (%v)", err)
			}
		})
	}
}

// TestE2EHTTPErrorsThroughSlog: what net/http logs itself, here a TLS
// handshake that is not one on Google's port, is a JSON line like every
// other, naming the listener.
func TestE2EHTTPErrorsThroughSlog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := selfSignedCert(t, dir)
	addr, admin := e2eFreeAddr(t), e2eFreeAddr(t)
	p := e2eStart(t, nil, "serve", "--insecure-plaintext", "--sms-file", filepath.Join(dir, "sms.jsonl"), "--data-dir", filepath.Join(dir, "data"),
		"--tls-cert", cert, "--tls-key", key, "--listen", addr, "--admin-listen", admin)
	p.url = "http://" + admin // health over the plain admin port
	if err := p.waitHealthy(15 * time.Second); err != nil {
		t.Fatalf("serve with TLS: %v\n%s", err, p.stderr)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\x00\x01\x02\x03\x04 not a TLS record\n"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, conn)
	conn.Close()
	if !p.logged(`"msg":"http server","listener":"main","error":"http: TLS handshake error from 127.0.0.1:`) {
		t.Errorf("the handshake error is not a slog line naming the listener:\n%s", p.stderr)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otpgate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}
