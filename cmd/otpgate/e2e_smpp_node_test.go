package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/testutil/nodepeer"
	"github.com/otpgate/otpgate/internal/testutil/syncbuf"
)

// The node-smpp SMSC of internal/sms/smpp's interoperability test, reused
// here with the real binary.
var nodeSMSCDir = filepath.Join("..", "..", "internal", "sms", "smpp", "testdata", "interop")

// nodeSMPPModules returns node and the node_modules holding npm's smpp, the
// install internal/sms/smpp's interop test uses.
func nodeSMPPModules(t *testing.T) (node, modules string) {
	t.Helper()
	return nodepeer.Require(t, "SMPP end-to-end test against node-smpp", nodeSMSCDir, "smpp", "smpp")
}

// TestE2ESMPPNodePeer: the real binary sends a sendOtp's SMS through an
// SMSC played by node-smpp, an independent implementation: the submit_sm
// carries the DLT header as its alphanumeric source and the entity and
// template ids in TLVs 0x1400 and 0x1401; the code it carries verifies;
// and the SMSC's delivery receipt counts in otpgate_sms_delivery_total.
func TestE2ESMPPNodePeer(t *testing.T) {
	t.Parallel()
	node, modules := nodeSMPPModules(t)
	script, err := filepath.Abs(filepath.Join(nodeSMSCDir, "smsc.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, `{"system_id":"otpgate","password":"secret"}`)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan map[string]any, 100)
	go func() {
		defer close(events)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			var e map[string]any
			if json.Unmarshal(s.Bytes(), &e) == nil {
				events <- e
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // smsc.cjs exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	next := func(name string) map[string]any {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("node exited while the test waited for %s; stderr:\n%s", name, stderr)
				}
				if e["event"] == name {
					return e
				}
			case <-timeout:
				t.Fatalf("node did not report %s within 15s; stderr:\n%s", name, stderr)
			}
		}
	}
	port := int(next("listening")["port"].(float64))

	tmp := t.TempDir()
	config := writeFile(t, tmp, "otpgate.json", `{"sms": {
		"providers": [{"name": "smpp-1", "type": "smpp", "addr": "127.0.0.1:`+strconv.Itoa(port)+`", "systemId": "otpgate",
		               "passwordEnv": "E2E_SMPP_PASSWORD", "source": {"addr": "OTHER"}}],
		"templates": {
			"legacy": {"text": `+strconv.Quote(xyzLegacyText)+`, "entityId": "`+xyzEntityID+`", "templateId": "`+xyzLegacyTID+`",
			           "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzLegacyDLT)+`},
			"card": {"text": `+strconv.Quote(xyzCardText)+`, "entityId": "`+xyzEntityID+`", "templateId": "`+xyzCardTID+`",
			         "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzCardDLT)+`}}}}`)
	p := e2eServe(t, []string{"E2E_SMPP_PASSWORD=secret"}, "--dev", "--data-dir", filepath.Join(tmp, "data"), "--config", config)
	if bind := next("bind"); bind["accepted"] != true || bind["command"] != "bind_transceiver" {
		t.Fatalf("bind %v", bind)
	}

	expectResult(t, "sendOtp through node-smpp", p.sendOtp("node-send-1", map[string]any{"associationId": "as-demo-1"}), "SUCCESS")
	sub := next("submit_sm")
	hexOf := func(s string) string { return hex.EncodeToString([]byte(s)) }
	for key, want := range map[string]any{
		"source_addr": "XYZBNK", "source_addr_ton": 5.0, "source_addr_npi": 0.0,
		"destination_addr": "919876543210", "dest_addr_ton": 1.0, "dest_addr_npi": 1.0, "data_coding": 0.0,
	} {
		if sub[key] != want {
			t.Errorf("submit_sm %s = %v, want %v", key, sub[key], want)
		}
	}
	tlvs, _ := sub["tlvs"].(map[string]any)
	if tlvs["1400"] != hexOf(xyzEntityID) || tlvs["1401"] != hexOf(xyzLegacyTID) {
		t.Errorf("submit_sm TLVs %v, want 1400=%s and 1401=%s", tlvs, hexOf(xyzEntityID), hexOf(xyzLegacyTID))
	}
	text, _ := sub["text"].(string)
	code := smsCode(t, text)
	if want := strings.Replace(xyzLegacyText, "{code}", code, 1); !strings.HasSuffix(text, "\n"+want) {
		t.Errorf("node decoded %q, want the token line and %q", text, want)
	}
	expectResult(t, "verifyOtp of the code node received", p.verifyOtp("node-verify-1", "node-send-1", code), "SUCCESS")

	if resp := next("deliver_sm_resp"); resp["command_status"] != 0.0 {
		t.Errorf("deliver_sm_resp %v: otpgate refused the receipt", resp)
	}
	want := `otpgate_sms_delivery_total{provider="smpp-1",status="delivered"} 1`
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, metrics := e2eGet(t, p.admin+"/metrics")
		if strings.Contains(metrics, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s:\n%s", want, grepLines(metrics, "otpgate_sms_"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
