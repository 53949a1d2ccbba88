package smpp

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/testutil/nodepeer"
	"github.com/otpgate/otpgate/internal/testutil/syncbuf"
)

// The interoperability test binds to testdata/interop/smsc.cjs, an SMSC run
// by node with farhadi/node-smpp, an implementation that shares no code
// with this package, pinned by testdata/interop/package-lock.json and
// installed by nodepeer (skipped loudly without node, failed under CI=true).

const interopDir = "testdata/interop"

// interopNode returns node and the NODE_PATH holding smpp, or skips.
func interopNode(t *testing.T) (node, modules string) {
	t.Helper()
	return nodepeer.Require(t, "SMPP interoperability test against node-smpp", interopDir, "smpp", "smpp")
}

// nodeEvent is one line of smsc.cjs's output.
type nodeEvent struct {
	Event string `json:"event"`
	Port  int    `json:"port"`
	Error string `json:"error"`

	// bind
	Command          string `json:"command"`
	SystemID         string `json:"system_id"`
	Password         string `json:"password"`
	SystemType       string `json:"system_type"`
	InterfaceVersion int    `json:"interface_version"`
	AddrTON          int    `json:"addr_ton"`
	AddrNPI          int    `json:"addr_npi"`
	AddressRange     string `json:"address_range"`
	Accepted         bool   `json:"accepted"`

	// submit_sm
	ServiceType        string            `json:"service_type"`
	SourceAddrTON      int               `json:"source_addr_ton"`
	SourceAddrNPI      int               `json:"source_addr_npi"`
	SourceAddr         string            `json:"source_addr"`
	DestAddrTON        int               `json:"dest_addr_ton"`
	DestAddrNPI        int               `json:"dest_addr_npi"`
	DestinationAddr    string            `json:"destination_addr"`
	ESMClass           int               `json:"esm_class"`
	RegisteredDelivery int               `json:"registered_delivery"`
	DataCoding         int               `json:"data_coding"`
	Text               string            `json:"text"`
	TLVs               map[string]string `json:"tlvs"`
	MessageID          string            `json:"message_id"`

	// deliver_sm_resp
	CommandStatus int `json:"command_status"`
}

// nodeSMSC is a running smsc.cjs.
type nodeSMSC struct {
	addr   string
	events chan nodeEvent
	stderr *syncbuf.Buffer
}

func startNodeSMSC(t *testing.T, systemID, password string) *nodeSMSC {
	t.Helper()
	node, modules := interopNode(t)
	script, err := filepath.Abs(filepath.Join(interopDir, "smsc.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(map[string]string{"system_id": systemID, "password": password})
	cmd := exec.Command(node, script, string(arg))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeSMSC{events: make(chan nodeEvent, 100), stderr: &syncbuf.Buffer{}}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(n.events)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			var e nodeEvent
			if err := json.Unmarshal(s.Bytes(), &e); err != nil {
				e = nodeEvent{Event: "unparsed", Error: s.Text()}
			}
			n.events <- e
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		stdin.Close() // smsc.cjs exits when its stdin closes
		done := make(chan error, 1)
		go func() { <-read; done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	e := n.next(t, "listening")
	n.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port))
	return n
}

// next returns the next event called name, passing over enquire_link (the
// keep-alive comes when it comes) and failing on any other event.
func (n *nodeSMSC) next(t *testing.T, name string) nodeEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-n.events:
			if !ok {
				t.Fatalf("node exited while the test waited for %s; stderr:\n%s", name, n.stderr)
			}
			if e.Event == name {
				return e
			}
			if e.Event != "enquire_link" {
				t.Fatalf("node reported %+v while the test waited for %s; stderr:\n%s", e, name, n.stderr)
			}
		case <-timeout:
			t.Fatalf("node did not report %s within 10s; stderr:\n%s", name, n.stderr)
		}
	}
}

func TestInteropNodeSMPP(t *testing.T) {
	smsc := startNodeSMSC(t, "otpgate", "secret")
	const entityID, templateID = "1101234567890123456", "1107161234567890123"

	config := func(receipts chan<- Receipt) Config {
		cfg := testConfig(smsc.addr)
		cfg.SystemType = "OTP"
		cfg.TLVs = []TLV{{Tag: TagDLTEntityID, Value: []byte(entityID)}}
		cfg.EnquireLinkInterval = 50 * time.Millisecond
		cfg.RequestTimeout = 5 * time.Second
		if receipts != nil {
			cfg.OnReceipt = func(r Receipt) { receipts <- r }
		}
		return cfg
	}

	for _, tt := range []struct {
		name   string
		text   string
		coding int
	}{
		{
			// The basic table where it differs from ASCII, Greek, and every
			// character of the extension table (sent as escape + septet).
			name:   "GSM-7",
			text:   "AB12345678C\nYour code is 123456. @£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà {€} [~] \\ ^| \f",
			coding: CodingDefault,
		},
		{
			// One character outside GSM-7 makes it UCS-2; the last one is
			// outside the BMP, a surrogate pair.
			name:   "UCS-2 Hindi",
			text:   "आपका OTP 123456 है। इसे किसी से साझा न करें 🔐",
			coding: CodingUCS2,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			receipts := make(chan Receipt, 1)
			c := newClient(t, config(receipts))

			id, err := within(t, 10*time.Second, func() result {
				id, err := c.Submit(context.Background(), Message{
					To:   "+919876543210",
					Text: tt.text,
					TLVs: []TLV{{Tag: TagDLTTemplateID, Value: []byte(templateID)}},
				})
				return result{id, err}
			}).unpack()
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}

			bind := smsc.next(t, "bind")
			wantBind := nodeEvent{
				Event: "bind", Command: "bind_transceiver", SystemID: "otpgate", Password: "secret",
				SystemType: "OTP", InterfaceVersion: 0x34, Accepted: true,
			}
			if diff := cmp.Diff(wantBind, bind); diff != "" {
				t.Errorf("node decoded the bind as (-want +got):\n%s", diff)
			}

			sm := smsc.next(t, "submit_sm")
			wantSM := nodeEvent{
				Event:         "submit_sm",
				SourceAddrTON: TONAlphanumeric, SourceAddrNPI: NPIUnknown, SourceAddr: "OTPGTE",
				DestAddrTON: TONInternational, DestAddrNPI: NPIISDN, DestinationAddr: "919876543210",
				RegisteredDelivery: ReceiptAlways,
				DataCoding:         tt.coding,
				Text:               tt.text,
				TLVs: map[string]string{
					"1400": hex.EncodeToString([]byte(entityID)),
					"1401": hex.EncodeToString([]byte(templateID)),
				},
				MessageID: id,
			}
			if diff := cmp.Diff(wantSM, sm); diff != "" {
				t.Errorf("node decoded the submit_sm as (-want +got):\n%s", diff)
			}

			// node's delivery receipt: parsed here, acknowledged there.
			select {
			case r := <-receipts:
				want := Receipt{
					MessageID: id, State: StateDelivered,
					TextID: id, Sub: "001", Dlvrd: "001", Stat: "DELIVRD", Err: "000", Text: "OTP",
					SubmitDate: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
					DoneDate:   time.Date(2024, 5, 1, 12, 1, 0, 0, time.UTC),
					Source:     Address{TON: TONInternational, NPI: NPIISDN, Addr: "919876543210"},
					Dest:       Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: "OTPGTE"},
				}
				if diff := cmp.Diff(want, r); diff != "" {
					t.Errorf("receipt (-want +got):\n%s", diff)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no delivery receipt from node")
			}
			if e := smsc.next(t, "deliver_sm_resp"); e.CommandStatus != 0 || e.MessageID != id {
				t.Errorf("node got deliver_sm_resp %+v", e)
			}

			// The keep-alive: node answers enquire_link, the bind stays.
			if e := waitEvent(t, smsc, "enquire_link"); e.Event != "enquire_link" {
				t.Fatal("no enquire_link")
			}
			if !c.Bound() {
				t.Error("not bound after enquire_link")
			}
			within(t, 10*time.Second, c.Close)
			smsc.next(t, "unbind")
		})
	}

	t.Run("transmitter", func(t *testing.T) {
		cfg := config(nil)
		cfg.BindMode = Transmitter
		c := newClient(t, cfg)
		if r := submit(t, c, Message{To: "+14155550100", Text: "Your code is 654321"}); r.err != nil {
			t.Fatalf("Submit: %v", r.err)
		}
		if e := smsc.next(t, "bind"); e.Command != "bind_transmitter" || !e.Accepted {
			t.Errorf("node saw %+v", e)
		}
		sm := smsc.next(t, "submit_sm")
		if sm.DestinationAddr != "14155550100" || sm.DataCoding != CodingDefault || sm.Text != "Your code is 654321" {
			t.Errorf("node decoded %+v", sm)
		}
		within(t, 10*time.Second, c.Close)
		// No receipt on a transmitter bind: the next thing is the unbind.
		smsc.next(t, "unbind")
	})

	t.Run("wrong password", func(t *testing.T) {
		cfg := config(nil)
		cfg.Password = "wrong"
		cfg.BackoffMin, cfg.BackoffMax = time.Minute, time.Minute
		c := newClient(t, cfg)
		r := submit(t, c, Message{To: "+919876543210", Text: "x"})
		wantError(t, r.err, "bind", ConfigError, StatusInvPaswd, false)
		if e := smsc.next(t, "bind"); e.Password != "wrong" || e.Accepted {
			t.Errorf("node saw %+v", e)
		}
	})
}

// waitEvent waits for an event called name, passing over any other.
func waitEvent(t *testing.T, n *nodeSMSC, name string) nodeEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-n.events:
			if !ok {
				t.Fatalf("node exited; stderr:\n%s", n.stderr)
			}
			if e.Event == name {
				return e
			}
		case <-timeout:
			t.Fatalf("node did not report %s within 10s", name)
		}
	}
}

func (r result) unpack() (string, error) { return r.id, r.err }
