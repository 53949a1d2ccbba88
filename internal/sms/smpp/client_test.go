package smpp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/otpgate/otpgate/internal/sms"
)

const (
	testTo   = "+919876543210"
	testText = "AB12345678C\nYour verification code is 123456."
)

// testConfig is quick to give up and quick to come back: the fault tests
// wait for timeouts and backoffs, never for the defaults.
func testConfig(addr string) Config {
	return Config{
		Name:                "smpp-test",
		Addr:                addr,
		SystemID:            "otpgate",
		Password:            "secret",
		Source:              Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: "OTPGTE"},
		ConnectTimeout:      2 * time.Second,
		RequestTimeout:      2 * time.Second,
		EnquireLinkInterval: time.Hour,
		BackoffMin:          10 * time.Millisecond,
		BackoffMax:          50 * time.Millisecond,
	}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// within fails the test, rather than hanging it, when f does not return
// within limit: no fault may leave a send hanging.
func within[T any](t *testing.T, limit time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(limit):
		t.Fatalf("no answer within %s", limit)
		panic("unreachable")
	}
}

type result struct {
	id  string
	err error
}

func submit(t *testing.T, c *Client, m Message) result {
	t.Helper()
	return submitIn(t, 10*time.Second, c, m)
}

// submitIn fails the test when the send takes longer than limit.
func submitIn(t *testing.T, limit time.Duration, c *Client, m Message) result {
	t.Helper()
	return within(t, limit, func() result {
		id, err := c.Submit(context.Background(), m)
		return result{id, err}
	})
}

func waitConnections(t *testing.T, f *fakeSMSC, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.accepted.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after 5s, want %d", f.accepted.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitBound(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Bound() {
		if time.Now().After(deadline) {
			t.Fatal("not bound within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantError checks err's classification.
func wantError(t *testing.T, err error, op string, kind Kind, status Status, unknown bool) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *smpp.Error", err, err)
	}
	if e.Op != op || e.Kind() != kind || e.Status != status || e.OutcomeUnknown() != unknown {
		t.Errorf("error %q: op %q, kind %s, status %s, outcome unknown %v; want %q, %s, %s, %v",
			e, e.Op, e.Kind(), e.Status, e.OutcomeUnknown(), op, kind, status, unknown)
	}
	if e.Temporary() != (kind == TryNext) || e.Permanent() == e.Temporary() {
		t.Errorf("Temporary %v, Permanent %v for kind %s", e.Temporary(), e.Permanent(), kind)
	}
	// Neither the password, the number nor the text may leak.
	for _, secret := range []string{"secret", "9876543210", "123456"} {
		if strings.Contains(e.Error(), secret) {
			t.Errorf("error %q contains %q", e, secret)
		}
	}
	return e
}

func TestSubmit(t *testing.T) {
	submits := make(chan PDU, 1)
	var bind PDU
	f := newFakeSMSC(t, func(s *fakeSession) {
		bind, _ = s.bind(StatusOK)
		s.serve(func(p PDU) PDU {
			submits <- p
			return accept("msg-42")
		}, nil)
	})
	cfg := testConfig(f.addr())
	cfg.SystemType = "OTP"
	cfg.TLVs = []TLV{
		{Tag: TagDLTEntityID, Value: []byte("1101234567890123456")},
		{Tag: TagDLTTemplateID, Value: []byte("default")},
	}
	c := newClient(t, cfg)

	r := submit(t, c, Message{To: testTo, Text: testText, TLVs: []TLV{
		{Tag: TagDLTTemplateID, Value: []byte("1107161234567890123")},
		{Tag: 0x1402, Value: []byte{1}},
	}})
	if r.err != nil || r.id != "msg-42" {
		t.Fatalf("Submit = %q, %v", r.id, r.err)
	}
	if want := (PDU{Command: BindTransceiver, Sequence: 1, Body: &Bind{
		SystemID: "otpgate", Password: "secret", SystemType: "OTP", InterfaceVersion: 0x34,
	}}); !cmp.Equal(bind, want) {
		t.Errorf("bind %s", cmp.Diff(want, bind))
	}
	p := <-submits
	want := &SubmitSMBody{
		Source:             Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: "OTPGTE"},
		Dest:               Address{TON: TONInternational, NPI: NPIISDN, Addr: "919876543210"},
		RegisteredDelivery: ReceiptAlways,
		DataCoding:         CodingDefault,
		ShortMessage:       []byte("AB12345678C\nYour verification code is 123456."),
		TLVs: []TLV{
			{Tag: TagDLTEntityID, Value: []byte("1101234567890123456")},
			{Tag: TagDLTTemplateID, Value: []byte("1107161234567890123")},
			{Tag: 0x1402, Value: []byte{1}},
		},
	}
	if diff := cmp.Diff(want, p.Body, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("submit_sm (-want +got):\n%s", diff)
	}

	// Send, the sms.Sender side, with a UCS-2 text and another source.
	var sender sms.Sender = c
	if err := within(t, 5*time.Second, func() error {
		return sender.Send(context.Background(), sms.Message{To: testTo, Text: "आपका कोड 123456 है"})
	}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	p = <-submits
	body := p.Body.(*SubmitSMBody)
	if body.DataCoding != CodingUCS2 || DecodeUCS2(body.ShortMessage) != "आपका कोड 123456 है" {
		t.Errorf("UCS-2 submit_sm: data_coding %d, text %q", body.DataCoding, DecodeUCS2(body.ShortMessage))
	}
	if sender.Name() != "smpp-test" {
		t.Errorf("Name = %q", sender.Name())
	}

	r = submit(t, c, Message{To: testTo, Text: "x", Source: &Address{TON: 1, NPI: 1, Addr: "15551234567"}})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := (<-submits).Body.(*SubmitSMBody).Source; got != (Address{TON: 1, NPI: 1, Addr: "15551234567"}) {
		t.Errorf("source %+v", got)
	}
}

// A provider that accepts the TCP connection and never answers: the bind
// times out, the send ends in "try the next provider", and nothing hangs.
func TestBindTimeout(t *testing.T) {
	f := newFakeSMSC(t, func(s *fakeSession) {
		for {
			if _, err := s.read(); err != nil {
				return
			}
		}
	})
	cfg := testConfig(f.addr())
	cfg.ConnectTimeout = 200 * time.Millisecond
	cfg.RequestTimeout = 5 * time.Second
	cfg.BackoffMin, cfg.BackoffMax = time.Minute, time.Minute
	c := newClient(t, cfg)

	r := submit(t, c, Message{To: testTo, Text: testText})
	e := wantError(t, r.err, "bind", TryNext, StatusOK, false)
	if !errors.Is(e, context.DeadlineExceeded) || !strings.Contains(e.Error(), "connect timeout") {
		t.Errorf("error %q: want a connect timeout", e)
	}
	// While it waits to reconnect, sends fail at once with the reason.
	r = submitIn(t, time.Second, c, Message{To: testTo, Text: testText})
	wantError(t, r.err, "bind", TryNext, StatusOK, false)
}

// A provider that closes the connection in the middle of the bind.
func TestCloseMidBind(t *testing.T) {
	f := newFakeSMSC(t, func(s *fakeSession) {
		var half [10]byte
		_, _ = s.r.Read(half[:])
	})
	cfg := testConfig(f.addr())
	cfg.BackoffMin, cfg.BackoffMax = time.Minute, time.Minute
	c := newClient(t, cfg)
	r := submit(t, c, Message{To: testTo, Text: testText})
	e := wantError(t, r.err, "bind", TryNext, StatusOK, false)
	if !strings.Contains(e.Error(), "connection lost") {
		t.Errorf("error %q: want connection lost", e)
	}
}

// A wrong password is a configuration error, reported at once and not
// retried: no provider-side timeout, no waiting.
func TestWrongPassword(t *testing.T) {
	binds := make(chan Bind, 10)
	f := newFakeSMSC(t, func(s *fakeSession) {
		p, err := s.read()
		if err != nil {
			return
		}
		b := p.Body.(*Bind)
		binds <- *b
		status := StatusOK
		if b.Password != "secret" {
			status = StatusInvPaswd
		}
		s.write(PDU{Command: BindTransceiverResp, Status: status, Sequence: p.Sequence})
		_, _ = s.read() // until the client hangs up
	})
	cfg := testConfig(f.addr())
	cfg.Password = "wrong"
	cfg.RequestTimeout = time.Minute
	cfg.BackoffMin, cfg.BackoffMax = time.Minute, time.Minute
	c := newClient(t, cfg)
	r := submitIn(t, 5*time.Second, c, Message{To: testTo, Text: testText})
	wantError(t, r.err, "bind", ConfigError, StatusInvPaswd, false)
	if b := <-binds; b.Password != "wrong" {
		t.Errorf("bind with password %q", b.Password)
	}
	// Later sends get the same answer without a new bind.
	r = submitIn(t, time.Second, c, Message{To: testTo, Text: testText})
	wantError(t, r.err, "bind", ConfigError, StatusInvPaswd, false)
	if f.accepted.Load() != 1 {
		t.Errorf("%d connections, want 1", f.accepted.Load())
	}
}

// Error statuses of submit_sm_resp, and generic_nack, map to try-next or
// do-not-retry; the bind survives them.
func TestSubmitErrorStatus(t *testing.T) {
	answers := []PDU{
		refuse(StatusThrottled),
		refuse(StatusMsgQFul),
		refuse(StatusSysErr),
		refuse(StatusInvDstAdr),
		refuse(StatusInvSrcAdr),
		refuse(StatusInvMsgLen),
		{Command: SubmitSMResp, Status: 0x0401}, // vendor-specific
		{Command: GenericNack, Status: StatusInvCmdID},
		{Command: GenericNack},
		{Command: EnquireLinkResp},
		accept("after-all-that"),
	}
	var next atomic.Int32
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		s.serve(func(PDU) PDU { return answers[next.Add(1)-1] }, nil)
	})
	c := newClient(t, testConfig(f.addr()))
	tests := []struct {
		kind    Kind
		status  Status
		unknown bool
		msg     string
	}{
		{TryNext, StatusThrottled, false, "ESME_RTHROTTLED (0x58)"},
		{TryNext, StatusMsgQFul, false, "ESME_RMSGQFUL"},
		{TryNext, StatusSysErr, false, "ESME_RSYSERR"},
		{Rejected, StatusInvDstAdr, false, "ESME_RINVDSTADR"},
		{Rejected, StatusInvSrcAdr, false, "ESME_RINVSRCADR"},
		{Rejected, StatusInvMsgLen, false, "ESME_RINVMSGLEN"},
		{TryNext, 0x401, false, "vendor-specific error 0x401"},
		{TryNext, StatusInvCmdID, false, "ESME_RINVCMDID (0x3): generic_nack"},
		{TryNext, StatusOK, false, "generic_nack without an error status"},
		{TryNext, StatusOK, true, "answered with enquire_link_resp"},
	}
	for _, tt := range tests {
		r := submit(t, c, Message{To: testTo, Text: testText})
		e := wantError(t, r.err, "submit_sm", tt.kind, tt.status, tt.unknown)
		if !strings.Contains(e.Error(), tt.msg) {
			t.Errorf("error %q, want %q in it", e, tt.msg)
		}
	}
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil || r.id != "after-all-that" {
		t.Errorf("Submit after the errors = %q, %v", r.id, r.err)
	}
	if f.accepted.Load() != 1 {
		t.Errorf("%d connections, want the one bind throughout", f.accepted.Load())
	}
}

// No submit_sm_resp: the send ends at the request timeout, flagged as an
// outcome that is unknown (the SMSC may have taken it).
func TestSubmitTimeout(t *testing.T) {
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		s.serve(func(PDU) PDU { return PDU{} }, nil)
	})
	cfg := testConfig(f.addr())
	cfg.RequestTimeout = 100 * time.Millisecond
	c := newClient(t, cfg)
	waitBound(t, c)
	r := submit(t, c, Message{To: testTo, Text: testText})
	e := wantError(t, r.err, "submit_sm", TryNext, StatusOK, true)
	if !errors.Is(e, context.DeadlineExceeded) || !strings.Contains(e.Error(), "no submit_sm_resp within the request timeout of 100ms") {
		t.Errorf("error %q", e)
	}

	// The caller's own deadline is reported as such.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r = within(t, 5*time.Second, func() result {
		id, err := c.Submit(ctx, Message{To: testTo, Text: testText})
		return result{id, err}
	})
	e = wantError(t, r.err, "submit_sm", TryNext, StatusOK, true)
	if !errors.Is(e, context.DeadlineExceeded) || !strings.Contains(e.Error(), "no submit_sm_resp before the caller's deadline") {
		t.Errorf("error %q", e)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err := c.Submit(ctx, Message{To: testTo, Text: testText})
	wantError(t, err, "submit_sm", TryNext, StatusOK, false)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// The connection drops after the submit_sm went out: try the next
// provider, outcome unknown; then the client binds again by itself.
func TestConnectionLostDuringSubmit(t *testing.T) {
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		if s.n == 1 {
			_, _ = s.read()
			return // hang up on the first submit_sm
		}
		s.serve(func(PDU) PDU { return accept("second") }, nil)
	})
	c := newClient(t, testConfig(f.addr()))
	r := submit(t, c, Message{To: testTo, Text: testText})
	e := wantError(t, r.err, "submit_sm", TryNext, StatusOK, true)
	if !strings.Contains(e.Error(), "connection lost") {
		t.Errorf("error %q", e)
	}
	waitConnections(t, f, 2)
	waitBound(t, c)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil || r.id != "second" {
		t.Errorf("after reconnecting: %q, %v", r.id, r.err)
	}
}

// The server drops a healthy bind; the client reconnects with backoff.
func TestReconnect(t *testing.T) {
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		if s.n < 3 {
			return // drop the first two connections right after the bind
		}
		s.serve(func(PDU) PDU { return accept("third") }, nil)
	})
	c := newClient(t, testConfig(f.addr()))
	waitConnections(t, f, 3)
	waitBound(t, c)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil || r.id != "third" {
		t.Errorf("after reconnecting: %q, %v", r.id, r.err)
	}
}

// enquire_link keeps the bind: a quiet connection is still the same one
// after many intervals. An enquire_link left unanswered ends the
// connection, and the client binds again.
func TestEnquireLink(t *testing.T) {
	links := make(chan int, 100)
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		for {
			p, err := s.read()
			if err != nil {
				return
			}
			switch p.Command {
			case EnquireLink:
				select {
				case links <- s.n:
				default:
				}
				if s.n == 1 {
					s.write(PDU{Command: EnquireLinkResp, Sequence: p.Sequence})
				}
				// The second connection goes deaf to enquire_link.
			case SubmitSM:
				s.write(PDU{Command: SubmitSMResp, Sequence: p.Sequence, Body: &MessageIDResp{MessageID: "ok"}})
			case Unbind:
				s.write(PDU{Command: UnbindResp, Sequence: p.Sequence})
				return
			}
		}
	})
	cfg := testConfig(f.addr())
	cfg.EnquireLinkInterval = 20 * time.Millisecond
	cfg.RequestTimeout = 200 * time.Millisecond
	c := newClient(t, cfg)
	for range 5 {
		select {
		case n := <-links:
			if n != 1 {
				t.Fatalf("enquire_link on connection %d, want 1", n)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no enquire_link")
		}
	}
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil {
		t.Fatal(r.err)
	}
	if n := f.accepted.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: enquire_link should have kept the first", n)
	}

	// Now make the first connection end, so the second, deaf one binds.
	f.mu.Lock()
	f.conns[0].Close()
	f.mu.Unlock()
	waitConnections(t, f, 3) // an unanswered enquire_link ends the second
}

// The SMSC's own requests: enquire_link is answered, an unknown command
// gets generic_nack, and unbind is answered before the client binds again.
func TestSMSCRequests(t *testing.T) {
	answers := make(chan PDU, 10)
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		if s.n > 1 {
			s.serve(func(PDU) PDU { return accept("after-unbind") }, nil)
			return
		}
		for _, p := range []PDU{
			{Command: EnquireLink},
			{Command: 0x00000103}, // data_sm: not implemented here
			{Command: AlertNotification},
			{Command: Unbind},
		} {
			var seq uint32
			if p.Command == EnquireLink || p.Command == Unbind {
				seq = s.request(p)
			} else {
				seq = s.requestRaw(p.Command)
			}
			if p.Command == AlertNotification {
				continue // it has no response
			}
			r, err := s.readTimeout(2 * time.Second)
			if err != nil {
				t.Errorf("no answer to %s: %v", p.Command, err)
				return
			}
			if r.Sequence != seq {
				t.Errorf("answer to %s has sequence %d, want %d", p.Command, r.Sequence, seq)
			}
			answers <- r
		}
	})
	c := newClient(t, testConfig(f.addr()))
	var got []PDU
	for range 3 {
		select {
		case p := <-answers:
			p.Sequence = 0
			got = append(got, p)
		case <-time.After(5 * time.Second):
			t.Fatalf("answers so far: %+v", got)
		}
	}
	want := []PDU{
		{Command: EnquireLinkResp},
		{Command: GenericNack, Status: StatusInvCmdID},
		{Command: UnbindResp},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	waitConnections(t, f, 2) // a second bind after the SMSC's unbind
	waitBound(t, c)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil || r.id != "after-unbind" {
		t.Errorf("%q, %v", r.id, r.err)
	}
}

// A PDU too long to be one ends the connection, not the process.
func TestGarbageFromSMSC(t *testing.T) {
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		if s.n == 1 {
			_, _ = s.nc.Write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 4})
			_, _ = s.read()
			return
		}
		s.serve(func(PDU) PDU { return accept("fine") }, nil)
	})
	c := newClient(t, testConfig(f.addr()))
	waitConnections(t, f, 2)
	waitBound(t, c)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil {
		t.Error(r.err)
	}
}

// No more than WindowSize submit_sm are outstanding at once.
func TestWindow(t *testing.T) {
	const window, sends = 2, 7
	var maxOutstanding atomic.Int32
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		var queue []PDU
		for {
			// Answer the oldest when the window is full, or when the
			// client has gone quiet; a third submit_sm arriving while two
			// are unanswered is a window overrun.
			p, err := s.readTimeout(50 * time.Millisecond)
			switch {
			case errors.Is(err, errIdle):
				if len(queue) > 0 {
					s.write(PDU{Command: SubmitSMResp, Sequence: queue[0].Sequence, Body: &MessageIDResp{MessageID: "w"}})
					queue = queue[1:]
				}
				continue
			case err != nil:
				return
			}
			if p.Command == Unbind {
				s.write(PDU{Command: UnbindResp, Sequence: p.Sequence})
				return
			}
			if p.Command != SubmitSM {
				continue
			}
			queue = append(queue, p)
			if n := int32(len(queue)); n > maxOutstanding.Load() {
				maxOutstanding.Store(n)
			}
		}
	})
	cfg := testConfig(f.addr())
	cfg.WindowSize = window
	cfg.RequestTimeout = 10 * time.Second
	c := newClient(t, cfg)
	waitBound(t, c)
	var wg sync.WaitGroup
	errs := make(chan error, sends)
	for range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Submit(context.Background(), Message{To: testTo, Text: testText})
			errs <- err
		}()
	}
	within(t, 20*time.Second, func() bool { wg.Wait(); return true })
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := maxOutstanding.Load(); got != window {
		t.Errorf("at most %d outstanding, want %d", got, window)
	}

	// A send that finds the window full until its time runs out.
	for range window {
		c.window <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var r result
	r.id, r.err = c.Submit(ctx, Message{To: testTo, Text: testText})
	if e := wantError(t, r.err, "submit_sm", TryNext, StatusOK, false); !strings.Contains(e.Error(), "window of 2") {
		t.Errorf("error %q", e)
	}
	for range window {
		<-c.window
	}
}

// Delivery receipts reach OnReceipt and are acknowledged; when OnReceipt
// falls behind, the SMSC is asked to retry later rather than the bind
// stalling.
func TestDeliveryReceipts(t *testing.T) {
	acks := make(chan PDU, 10)
	more := make(chan struct{})
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		s.serve(func(p PDU) PDU {
			receipt := PDU{Command: DeliverSM, Body: &SubmitSMBody{
				Source:       p.Body.(*SubmitSMBody).Dest,
				Dest:         p.Body.(*SubmitSMBody).Source,
				ESMClass:     ESMClassReceipt,
				ShortMessage: []byte("id:r-1 sub:001 dlvrd:001 submit date:2405011200 done date:2405011201 stat:DELIVRD err:000 text:AB12"),
				TLVs: []TLV{
					CStringTLV(TagReceiptedMessageID, "r-1"),
					{Tag: TagMessageState, Value: []byte{byte(StateDelivered)}},
				},
			}}
			go func() {
				s.request(receipt) // handed to OnReceipt, which then blocks
				<-more
				s.request(receipt) // waits in the queue of one
				s.request(receipt) // finds the queue full
				// A mobile-originated message: acknowledged, not a receipt.
				s.request(PDU{Command: DeliverSM, Body: &SubmitSMBody{ShortMessage: []byte("hello")}})
			}()
			return accept("r-1")
		}, func(p PDU) { acks <- p })
	})
	got := make(chan Receipt, 10)
	release := make(chan struct{})
	cfg := testConfig(f.addr())
	cfg.ReceiptQueue = 1
	cfg.OnReceipt = func(r Receipt) {
		got <- r
		<-release
	}
	c := newClient(t, cfg)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil {
		t.Fatal(r.err)
	}
	select {
	case r := <-got:
		if r.MessageID != "r-1" || r.State != StateDelivered || r.Stat != "DELIVRD" ||
			r.Source.Addr != "919876543210" || r.Dest.Addr != "OTPGTE" {
			t.Errorf("receipt %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("receipt not handed to OnReceipt")
	}
	close(more)
	var statuses []Status
	for range 4 {
		select {
		case p := <-acks:
			if p.Command != DeliverSMResp {
				t.Fatalf("answer %s, want deliver_sm_resp", p.Command)
			}
			statuses = append(statuses, p.Status)
		case <-time.After(5 * time.Second):
			t.Fatalf("deliver_sm_resp so far: %v", statuses)
		}
	}
	if want := []Status{StatusOK, StatusOK, StatusTempAppErr, StatusOK}; !cmp.Equal(statuses, want) {
		t.Errorf("deliver_sm_resp statuses %v, want %v", statuses, want)
	}
	close(release)
	select {
	case <-got: // the one that waited in the queue
	case <-time.After(5 * time.Second):
		t.Fatal("the queued receipt was not handed to OnReceipt")
	}
}

// Close unbinds; sends after it fail at once.
func TestClose(t *testing.T) {
	unbound := make(chan struct{})
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		s.serve(func(PDU) PDU { return accept("x") }, nil)
		close(unbound)
	})
	c := newClient(t, testConfig(f.addr()))
	waitBound(t, c)
	within(t, 5*time.Second, c.Close)
	select {
	case <-unbound:
	case <-time.After(5 * time.Second):
		t.Fatal("no unbind")
	}
	r := submitIn(t, time.Second, c, Message{To: testTo, Text: testText})
	if e := wantError(t, r.err, "submit_sm", TryNext, StatusOK, false); !errors.Is(e, ErrClosed) {
		t.Errorf("error %q, want ErrClosed", e)
	}
	if c.Bound() {
		t.Error("bound after Close")
	}
	_ = c.Close() // twice is fine
}

// Close while the SMSC is unreachable returns promptly.
func TestCloseWhileDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, testConfig(addr))
	r := submit(t, c, Message{To: testTo, Text: testText})
	wantError(t, r.err, "connect", TryNext, StatusOK, false)
	within(t, 5*time.Second, c.Close)
}

// Messages that no SMSC should see are refused before any I/O.
func TestSubmitRejectsBadMessages(t *testing.T) {
	var submits atomic.Int32
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		s.serve(func(PDU) PDU {
			submits.Add(1)
			return accept("ok")
		}, nil)
	})
	c := newClient(t, testConfig(f.addr()))
	for _, m := range []Message{
		{To: "+91 98765 43210", Text: "x"},
		{To: "+", Text: "x"},
		{To: "+1234567890123456", Text: "x"},
		{To: testTo, Text: ""},
		{To: testTo, Text: strings.Repeat("x", 255)},
		{To: testTo, Text: strings.Repeat("ह", 128)},
		{To: testTo, Text: "x", Source: &Address{Addr: strings.Repeat("1", 21)}},
		{To: testTo, Text: "x", TLVs: []TLV{{Tag: 1, Value: make([]byte, 0x10000)}}},
	} {
		r := submit(t, c, m)
		wantError(t, r.err, "submit_sm", Rejected, StatusOK, false)
	}
	if n := submits.Load(); n != 0 {
		t.Errorf("%d bad messages reached the SMSC", n)
	}
	// The longest that fits: 254 octets; a number without its "+" is
	// taken as E.164 too.
	for _, m := range []Message{
		{To: testTo, Text: strings.Repeat("x", 254)},
		{To: testTo, Text: strings.Repeat("ह", 127)},
		{To: "919876543210", Text: "x"},
	} {
		if r := submit(t, c, m); r.err != nil {
			t.Errorf("%d characters: %v", len(m.Text), r.err)
		}
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	f := serveFake(t, ln, func(s *fakeSession) {
		s.bind(StatusOK)
		s.serve(func(PDU) PDU { return accept("over-tls") }, nil)
	})
	cfg := testConfig(f.addr())
	cfg.TLS = &tls.Config{RootCAs: pool} // ServerName comes from Addr
	c := newClient(t, cfg)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil || r.id != "over-tls" {
		t.Fatalf("%q, %v", r.id, r.err)
	}

	// A client that does not trust the certificate does not bind.
	cfg.TLS = &tls.Config{}
	cfg.BackoffMin, cfg.BackoffMax = time.Minute, time.Minute
	c2 := newClient(t, cfg)
	r := submit(t, c2, Message{To: testTo, Text: testText})
	if e := wantError(t, r.err, "connect", TryNext, StatusOK, false); !strings.Contains(e.Error(), "TLS") {
		t.Errorf("error %q", e)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smsc"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestConfigCheck(t *testing.T) {
	base := testConfig("127.0.0.1:2775")
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no port", func(c *Config) { c.Addr = "smsc.example" }, "want host:port"},
		{"no system id", func(c *Config) { c.SystemID = "" }, "system id is required"},
		{"long system id", func(c *Config) { c.SystemID = strings.Repeat("s", 16) }, "system id: 16 octets"},
		{"long password", func(c *Config) { c.Password = "123456789" }, "password: 9 octets, over SMPP 3.4's limit of 8"},
		{"long system type", func(c *Config) { c.SystemType = strings.Repeat("t", 13) }, "system type"},
		{"long source", func(c *Config) { c.Source.Addr = strings.Repeat("1", 21) }, "source address"},
		{"NUL in password", func(c *Config) { c.Password = "a\x00" }, "password contains NUL"},
		{"bind mode", func(c *Config) { c.BindMode = 7 }, "unknown bind mode 7"},
		{"negative window", func(c *Config) { c.WindowSize = -1 }, "negative window"},
		{"negative TPS", func(c *Config) { c.TPS = -1 }, "negative TPS"},
		{"negative timeout", func(c *Config) { c.RequestTimeout = -time.Second }, "negative request timeout"},
		{"backoff bounds", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Minute, time.Second }, "exceeds the maximum"},
		{"huge TLV", func(c *Config) { c.TLVs = []TLV{{Tag: 1, Value: make([]byte, 0x10000)}} }, "TLV 0x0001"},
	}
	for _, tt := range tests {
		cfg := base
		tt.change(&cfg)
		c, err := New(cfg)
		if err == nil {
			c.Close()
			t.Errorf("%s: New accepted it", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error %q shows the password", tt.name, err)
		}
	}

	// Defaults.
	cfg := Config{Addr: "127.0.0.1:1", SystemID: "x", BackoffMax: 100 * time.Millisecond}
	cfg.setDefaults()
	if cfg.Name != "smpp" || cfg.WindowSize != 10 || cfg.RequestTimeout != 10*time.Second ||
		cfg.BackoffMin != 100*time.Millisecond || cfg.BackoffMax != 100*time.Millisecond ||
		cfg.EnquireLinkInterval != 30*time.Second || cfg.ConnectTimeout != 10*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg = Config{}
	cfg.setDefaults()
	if cfg.BackoffMin != time.Second || cfg.BackoffMax != time.Minute {
		t.Errorf("default backoff %s to %s", cfg.BackoffMin, cfg.BackoffMax)
	}

	for s, want := range map[string]BindMode{"transceiver": Transceiver, "TRX": Transceiver, "": Transceiver, "transmitter": Transmitter} {
		if got, err := ParseBindMode(s); err != nil || got != want {
			t.Errorf("ParseBindMode(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseBindMode("receiver"); err == nil {
		t.Error("ParseBindMode(receiver) accepted")
	}
}

func TestTransmitterBind(t *testing.T) {
	binds := make(chan CommandID, 1)
	f := newFakeSMSC(t, func(s *fakeSession) {
		p, _ := s.bind(StatusOK)
		binds <- p.Command
		s.serve(func(PDU) PDU { return accept("tx") }, nil)
	})
	cfg := testConfig(f.addr())
	cfg.BindMode = Transmitter
	cfg.NoReceipts = true
	cfg.OnReceipt = func(Receipt) {} // unused on a transmitter bind
	c := newClient(t, cfg)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil {
		t.Fatal(r.err)
	}
	if got := <-binds; got != BindTransmitter {
		t.Errorf("bound with %s", got)
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(4, func() time.Time { return now }) // one every 250ms
	var turns []time.Duration
	for range 3 {
		at, ok := b.reserve(time.Time{})
		if !ok {
			t.Fatal("no turn without a deadline")
		}
		turns = append(turns, at.Sub(now))
	}
	if want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond}; !cmp.Equal(turns, want) {
		t.Errorf("turns %v, want %v", turns, want)
	}
	// A turn after the deadline is not taken.
	if _, ok := b.reserve(now.Add(600 * time.Millisecond)); ok {
		t.Error("a turn at 750ms fits a deadline of 600ms")
	}
	at, ok := b.reserve(now.Add(800 * time.Millisecond))
	if !ok || at.Sub(now) != 750*time.Millisecond {
		t.Errorf("turn at %v, %v; want 750ms", at.Sub(now), ok)
	}
	// Giving up the last turn gives it back; time passing frees them all.
	b.unreserve(at)
	if at2, _ := b.reserve(time.Time{}); !at2.Equal(at) {
		t.Errorf("after unreserve: %v, want %v", at2.Sub(now), at.Sub(now))
	}
	now = now.Add(time.Hour)
	if at, _ := b.reserve(time.Time{}); !at.Equal(now) {
		t.Errorf("after an idle hour: turn in %v", at.Sub(now))
	}
}

// A TPS limit that leaves no turn before the request's deadline fails the
// send at once, as try-next.
func TestRateLimitedSend(t *testing.T) {
	f := newFakeSMSC(t, func(s *fakeSession) {
		s.bind(StatusOK)
		s.serve(func(PDU) PDU { return accept("r") }, nil)
	})
	cfg := testConfig(f.addr())
	cfg.TPS = 0.001 // one turn now, the next in 1000s
	c := newClient(t, cfg)
	if r := submit(t, c, Message{To: testTo, Text: testText}); r.err != nil {
		t.Fatal(r.err)
	}
	r := submitIn(t, time.Second, c, Message{To: testTo, Text: testText})
	if e := wantError(t, r.err, "submit_sm", TryNext, StatusOK, false); !strings.Contains(e.Error(), "0.001 per second") {
		t.Errorf("error %q", e)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Addr: "smsc:2775", Op: "submit_sm", Status: StatusThrottled, kind: TryNext}
	if got, want := e.Error(), "smpp smsc:2775: submit_sm: ESME_RTHROTTLED (0x58)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	e = &Error{Addr: "smsc:2775", Op: "connect", Err: errors.New("refused"), kind: TryNext}
	if got, want := e.Error(), "smpp smsc:2775: connect: refused"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	// The classification is reachable through interfaces alone, as a
	// router in package sms, which cannot import this one, will ask.
	var err error = e
	if te, ok := err.(interface{ Temporary() bool }); !ok || !te.Temporary() {
		t.Error("Temporary")
	}
	if pe, ok := err.(interface{ Permanent() bool }); !ok || pe.Permanent() {
		t.Error("Permanent")
	}
	if ue, ok := err.(interface{ OutcomeUnknown() bool }); !ok || ue.OutcomeUnknown() {
		t.Error("OutcomeUnknown")
	}
	if !bytes.Contains([]byte(Kind(9).String()), []byte("9")) || Rejected.String() != "rejected" {
		t.Error("Kind.String")
	}
}
