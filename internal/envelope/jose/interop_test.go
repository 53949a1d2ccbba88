package jose

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
)

// The interoperability test runs testdata/interop/interop.cjs under node with
// panva/jose, an implementation that shares no code with go-jose, pinned by
// testdata/interop/package-lock.json. `npm ci` installs it once into
// $TMPDIR/otpgate-jose-interop-<hash of package.json and lockfile>, which
// later runs reuse; that first run needs the npm registry.
//
// Without node or npm, or when the install fails, the test is skipped with a
// loud message, except when CI is true: there it fails, so that CI never
// passes without having checked interoperability.

const interopDir = "testdata/interop"

type nodeJose struct {
	node    string
	args    []string // node flags before the script
	modules string   // NODE_PATH
	script  string
}

var interop struct {
	once sync.Once
	n    *nodeJose
	err  error
}

func interopNode(t *testing.T) *nodeJose {
	t.Helper()
	interop.once.Do(func() { interop.n, interop.err = setUpNode() })
	if interop.err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("the JOSE interoperability test must run in CI (CI=true), but: %v", interop.err)
		}
		t.Skipf("\n!!!!!!!!\n!!! SKIPPING the JOSE interoperability test against panva/jose: %v\n"+
			"!!! It needs node and npm, and the npm registry on its first run. With CI=true this is a failure.\n!!!!!!!!", interop.err)
	}
	return interop.n
}

func setUpNode() (*nodeJose, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not installed: %w", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("npm is not installed: %w", err)
	}
	script, err := filepath.Abs(filepath.Join(interopDir, "interop.cjs"))
	if err != nil {
		return nil, err
	}
	modules, err := installJose(npm)
	if err != nil {
		return nil, err
	}
	n := &nodeJose{node: node, modules: modules, script: script}
	// Node 20 on OpenSSL 3.0 refuses RSA PKCS#1 v1.5 decryption (the Marvin
	// attack, CVE-2023-46809) unless told otherwise; RSA1_5 is what Google
	// uses. Node versions without the switch are run without it.
	const revert = "--security-revert=CVE-2023-46809"
	if exec.Command(node, revert, "-e", "").Run() == nil {
		n.args = []string{revert}
	}
	return n, nil
}

// installJose runs `npm ci` once per version of the lockfile and returns the
// node_modules directory.
func installJose(npm string) (string, error) {
	h := sha256.New()
	var manifests [][]byte
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(interopDir, name))
		if err != nil {
			return "", err
		}
		h.Write(b)
		manifests = append(manifests, b)
	}
	dir := filepath.Join(os.TempDir(), "otpgate-jose-interop-"+hex.EncodeToString(h.Sum(nil))[:16])
	installed := func() bool {
		_, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json"))
		return err == nil
	}
	if installed() {
		return filepath.Join(dir, "node_modules"), nil
	}
	// Install beside, then rename into place: a concurrent run sees either
	// nothing or a complete install.
	tmp, err := os.MkdirTemp(os.TempDir(), "otpgate-jose-interop-install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for i, name := range []string{"package.json", "package-lock.json"} {
		if err := os.WriteFile(filepath.Join(tmp, name), manifests[i], 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %v\n%s", tmp, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !installed() {
		return "", err
	}
	return filepath.Join(dir, "node_modules"), nil
}

// run hands jobs to interop.cjs and returns its results, one per job.
func (n *nodeJose) run(t *testing.T, jobs []map[string]any) []map[string]any {
	t.Helper()
	in, err := json.Marshal(map[string]any{"jobs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(n.node, append(n.args, n.script)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+n.modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", n.script, err, stderr.Bytes())
	}
	// The answer is the last line: node may print warnings on stdout before
	// it (the security revert does).
	out = bytes.TrimSpace(out)
	out = out[bytes.LastIndexByte(out, '\n')+1:]
	var res struct{ Results []map[string]any }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Results) != len(jobs) {
		if len(out) > 500 {
			out = append(out[:500:500], "…"...)
		}
		t.Fatalf("node answered %q (%v), want %d results", out, err, len(jobs))
	}
	return res.Results
}

func publicJWK(t *testing.T, k *Key) json.RawMessage  { return jwkOf(t, k.Public()) }
func privateJWK(t *testing.T, k *Key) json.RawMessage { return jwkOf(t, k) }

type interopCase struct {
	keyAlg, enc, sigAlg string
	zip                 bool
}

func (c interopCase) String() string {
	return fmt.Sprintf("%s/%s/%s/zip=%v", c.keyAlg, c.enc, c.sigAlg, c.zip)
}

var interopCases = []interopCase{
	{"RSA1_5", "A128CBC-HS256", "RS256", false}, // what Google sends (SPEC §5)
	{"RSA1_5", "A128CBC-HS256", "RS256", true},
	{"RSA1_5", "A256CBC-HS512", "PS256", true},
	{"RSA-OAEP-256", "A256CBC-HS512", "PS256", false},
	{"RSA-OAEP-256", "A128CBC-HS256", "RS256", true},
}

// interopPayloads: the usual body, and a larger one that compression shrinks.
var interopPayloads = [][]byte{
	payload,
	[]byte(`{"clientMessage":"` + strings.Repeat("0123456789", 400) + `"}`),
}

func TestInteropNodeJoseSealsGoOpens(t *testing.T) {
	n := interopNode(t)
	p := newParties(t)
	// Our "exp" member must not trouble another implementation.
	p.ours[0].Expires, p.google[0].Expires = t0.Add(365*24*time.Hour), t0.Add(365*24*time.Hour)
	var jobs []map[string]any
	for _, c := range interopCases {
		for _, pl := range interopPayloads {
			jobs = append(jobs, map[string]any{
				"op": "seal", "payload": base64.StdEncoding.EncodeToString(pl),
				"signKey": privateJWK(t, p.google[0]), "sigAlg": c.sigAlg,
				"encKey": publicJWK(t, p.ours[0]), "alg": c.keyAlg, "enc": c.enc, "zip": c.zip,
			})
		}
	}
	results := n.run(t, jobs)
	for i, res := range results {
		c, pl := interopCases[i/len(interopPayloads)], interopPayloads[i%len(interopPayloads)]
		t.Run(fmt.Sprintf("%v/%d", c, i%len(interopPayloads)), func(t *testing.T) {
			body, ok := res["jwe"].(string)
			if !ok {
				t.Fatalf("node could not seal: %v", res["error"])
			}
			if h := header(t, body); h["kid"] != p.ours[0].ID || (h["zip"] == "DEF") != c.zip {
				t.Errorf("node's JWE header %v", h)
			}
			server := p.server(t, allowAll(c.keyAlg, c.enc, c.sigAlg, false))
			got, err := server.Open([]byte(body))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, pl) {
				t.Fatalf("Open returned %q, want %q", got, pl)
			}
			// And what node sealed is refused when tampered with or when the
			// algorithm is not allowed: the Open above was not a fluke.
			_, err = server.Open([]byte(flip(t, body, 3)))
			wantErr(t, err, envelope.ErrUndecryptable)
			if c.keyAlg != "RSA1_5" || c.enc != "A128CBC-HS256" {
				_, err = p.server(t, Options{SignatureAlgorithms: []string{c.sigAlg}}).Open([]byte(body))
				wantErr(t, err, envelope.ErrUndecryptable)
			}
		})
	}
}

func TestInteropGoSealsNodeJoseOpens(t *testing.T) {
	n := interopNode(t)
	p := newParties(t)
	p.ours[0].Expires, p.google[0].Expires = t0.Add(365*24*time.Hour), t0.Add(365*24*time.Hour)
	stranger := key(t, "attacker")
	var jobs []map[string]any
	for _, c := range interopCases {
		server := p.server(t, allowAll(c.keyAlg, c.enc, c.sigAlg, c.zip))
		for _, pl := range interopPayloads {
			body, err := server.Seal(pl)
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, map[string]any{
				"op": "open", "jwe": string(body),
				"decKey": privateJWK(t, p.google[0]), "verifyKey": publicJWK(t, p.ours[0]),
				"alg": c.keyAlg, "enc": c.enc, "sigAlg": c.sigAlg,
			})
		}
	}
	// Controls: node must refuse our message under a key that did not sign it
	// and one whose ciphertext was tampered with, or its acceptance above
	// would prove nothing.
	control := func(job map[string]any) map[string]any {
		c := make(map[string]any, len(job))
		for k, v := range job {
			c[k] = v
		}
		return c
	}
	wrongSigner, tampered := control(jobs[0]), control(jobs[0])
	wrongSigner["verifyKey"] = publicJWK(t, stranger)
	tampered["jwe"] = flip(t, jobs[0]["jwe"].(string), 3)
	jobs = append(jobs, wrongSigner, tampered)

	results := n.run(t, jobs)
	for i, res := range results[:len(results)-2] {
		c, pl := interopCases[i/len(interopPayloads)], interopPayloads[i%len(interopPayloads)]
		t.Run(fmt.Sprintf("%v/%d", c, i%len(interopPayloads)), func(t *testing.T) {
			b64, ok := res["payload"].(string)
			if !ok {
				t.Fatalf("node could not open our message: %v", res["error"])
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err != nil || !bytes.Equal(got, pl) {
				t.Fatalf("node read %q (%v), want %q", got, err, pl)
			}
			jweHeader, _ := res["jweHeader"].(map[string]any)
			jwsHeader, _ := res["jwsHeader"].(map[string]any)
			if jweHeader["kid"] != p.google[0].ID || jweHeader["alg"] != c.keyAlg || jweHeader["enc"] != c.enc || (jweHeader["zip"] == "DEF") != c.zip {
				t.Errorf("JWE header as node read it: %v", jweHeader)
			}
			if jwsHeader["kid"] != p.ours[0].ID || jwsHeader["alg"] != c.sigAlg {
				t.Errorf("JWS header as node read it: %v", jwsHeader)
			}
		})
	}
	for i, name := range []string{"signed by another key", "tampered"} {
		res := results[len(results)-2+i]
		if _, opened := res["payload"]; opened || res["error"] == nil {
			t.Errorf("control %q: node accepted it: %v", name, res)
		} else {
			t.Logf("control %q: node refused it: %v", name, res["error"])
		}
	}
}
