package smpp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/sms"
)

// BindMode is how the client binds.
type BindMode int

const (
	// Transceiver submits messages and receives delivery receipts on one
	// bind (bind_transceiver). The default.
	Transceiver BindMode = iota
	// Transmitter only submits (bind_transmitter); the SMSC sends no
	// receipts on it.
	Transmitter
)

func (m BindMode) String() string {
	switch m {
	case Transceiver:
		return "transceiver"
	case Transmitter:
		return "transmitter"
	}
	return fmt.Sprintf("bind mode %d", int(m))
}

// ParseBindMode reads "transceiver" or "transmitter".
func ParseBindMode(s string) (BindMode, error) {
	switch strings.ToLower(s) {
	case "transceiver", "trx", "":
		return Transceiver, nil
	case "transmitter", "tx":
		return Transmitter, nil
	}
	return 0, fmt.Errorf("smpp: bind mode %q: want transceiver or transmitter", s)
}

func (m BindMode) command() CommandID {
	if m == Transmitter {
		return BindTransmitter
	}
	return BindTransceiver
}

// Defaults of Config.
const (
	DefaultName                = "smpp"
	DefaultWindowSize          = 10
	DefaultEnquireLinkInterval = 30 * time.Second
	DefaultConnectTimeout      = 10 * time.Second
	DefaultRequestTimeout      = 10 * time.Second
	DefaultBackoffMin          = 1 * time.Second
	DefaultBackoffMax          = 60 * time.Second
	DefaultReceiptQueue        = 1024
)

// Config describes one SMPP account at an SMSC or aggregator. Zero values
// take the defaults above.
type Config struct {
	Name string // what Name returns, for metrics and logs; default "smpp"

	Addr string      // host:port of the SMSC
	TLS  *tls.Config // nil: plain TCP; ServerName defaults to Addr's host

	SystemID   string // up to 15 characters
	Password   string // up to 8 characters; never logged nor in errors
	SystemType string // up to 12 characters, often empty
	BindMode   BindMode

	// Source is the source address of every message, with its TON and NPI:
	// an alphanumeric sender id (India's DLT header, e.g. "OTPGTE") is
	// TONAlphanumeric/NPIUnknown, a number in international format
	// TONInternational/NPIISDN. Empty: the SMSC's default for the account.
	Source      Address
	ServiceType string // up to 5 characters, usually empty
	// NoReceipts asks for no delivery receipt (registered_delivery 0).
	// By default every message asks for one (registered_delivery 1).
	NoReceipts bool
	// TLVs are added to every submit_sm, before those of the message, e.g.
	// the DLT entity id as {TagDLTEntityID, []byte("1101…")}. A tag given
	// again for a message is replaced by the message's.
	TLVs []TLV
	// DLTEntityIDTag and DLTTemplateIDTag are the TLVs in which Send puts
	// the India DLT entity id and content template id of a message
	// (sms.Message.DLT), as octets without a NUL; 0 means TagDLTEntityID
	// (0x1400) and TagDLTTemplateID (0x1401), what aggregators commonly
	// expect. Ask the aggregator: some use other tags.
	DLTEntityIDTag, DLTTemplateIDTag uint16

	WindowSize int     // submit_sm awaiting their response at most; default 10
	TPS        float64 // submit_sm per second at most, evenly spaced; 0: no limit

	EnquireLinkInterval time.Duration // default 30s
	// ConnectTimeout bounds the TCP connection, the TLS handshake and the
	// bind_resp together.
	ConnectTimeout time.Duration
	// RequestTimeout bounds a Send from end to end (waiting for the bind, a
	// window slot and the rate limit, then the submit_sm_resp), and the
	// answer to an enquire_link or unbind. Default 10s.
	RequestTimeout time.Duration
	// Reconnection after a failed bind or a lost connection waits
	// BackoffMin, doubling up to BackoffMax, each wait jittered by ±25%.
	BackoffMin, BackoffMax time.Duration

	// OnReceipt, when set, is called with each delivery receipt, one at a
	// time from a goroutine of the client. The receipt is acknowledged
	// once queued; when ReceiptQueue receipts are waiting for OnReceipt,
	// the SMSC is told to try again later (ESME_RX_T_APPN).
	OnReceipt    func(Receipt)
	ReceiptQueue int // default 1024

	Logger *slog.Logger // nil: no logs
}

// Client is a persistent SMPP bind to one SMSC account. It implements
// sms.Sender. It connects and binds in the background from [New], keeps the
// bind alive with enquire_link, and reconnects with backoff when it is lost.
// It is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	limit    *bucket
	window   chan struct{}
	receipts chan Receipt

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	state   state
	cur     *conn // while stateBound
	lastErr *Error
	changed chan struct{} // closed and replaced at every change of state
}

type state int

const (
	stateConnecting state = iota // the first attempt, or a reconnection, is under way
	stateBound
	stateDown // waiting to reconnect: sends fail at once with lastErr
	stateClosed
)

var _ sms.Submitter = (*Client)(nil)

// New checks cfg and returns a client that starts connecting at once. Call
// Close to unbind and release it.
func New(cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		window:  make(chan struct{}, cfg.WindowSize),
		changed: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("provider", cfg.Name, "smsc", cfg.Addr)
	if cfg.TPS > 0 {
		c.limit = newBucket(cfg.TPS, time.Now)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if cfg.OnReceipt != nil && cfg.BindMode == Transceiver {
		c.receipts = make(chan Receipt, cfg.ReceiptQueue)
		c.wg.Add(1)
		go c.dispatchReceipts()
	}
	c.wg.Add(1)
	go c.run()
	return c, nil
}

// Validate checks cfg as New does, without connecting: for a configuration
// check before serving.
func (cfg Config) Validate() error { return cfg.check() }

func (cfg *Config) check() error {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return fmt.Errorf("smpp: address %q: want host:port", cfg.Addr)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"system id", cfg.SystemID, MaxSystemIDLen},
		{"password", cfg.Password, MaxPasswordLen},
		{"system type", cfg.SystemType, MaxSystemTypeLen},
		{"source address", cfg.Source.Addr, MaxAddrLen},
		{"service type", cfg.ServiceType, MaxServiceTypeLen},
	} {
		if len(f.v) >= f.max {
			return fmt.Errorf("smpp: %s: %d octets, over SMPP 3.4's limit of %d", f.name, len(f.v), f.max-1)
		}
		if strings.IndexByte(f.v, 0) >= 0 {
			return fmt.Errorf("smpp: %s contains NUL", f.name)
		}
	}
	if cfg.SystemID == "" {
		return errors.New("smpp: system id is required")
	}
	if cfg.BindMode != Transceiver && cfg.BindMode != Transmitter {
		return fmt.Errorf("smpp: unknown %s", cfg.BindMode)
	}
	entityTag, templateTag := cmp.Or(cfg.DLTEntityIDTag, TagDLTEntityID), cmp.Or(cfg.DLTTemplateIDTag, TagDLTTemplateID)
	if entityTag == templateTag {
		return fmt.Errorf("smpp: the DLT entity id and template id TLVs have the same tag 0x%04X", entityTag)
	}
	for _, t := range cfg.TLVs {
		if len(t.Value) > 0xFFFF {
			return fmt.Errorf("smpp: TLV 0x%04X: %d octets, over 65535", t.Tag, len(t.Value))
		}
	}
	switch {
	case cfg.WindowSize < 0:
		return fmt.Errorf("smpp: negative window size %d", cfg.WindowSize)
	case cfg.TPS < 0:
		return fmt.Errorf("smpp: negative TPS %g", cfg.TPS)
	case cfg.ReceiptQueue < 0:
		return fmt.Errorf("smpp: negative receipt queue %d", cfg.ReceiptQueue)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"enquire_link interval", cfg.EnquireLinkInterval},
		{"connect timeout", cfg.ConnectTimeout},
		{"request timeout", cfg.RequestTimeout},
		{"minimum backoff", cfg.BackoffMin},
		{"maximum backoff", cfg.BackoffMax},
	} {
		if d.v < 0 {
			return fmt.Errorf("smpp: negative %s %s", d.name, d.v)
		}
	}
	if cfg.BackoffMin > 0 && cfg.BackoffMax > 0 && cfg.BackoffMin > cfg.BackoffMax {
		return fmt.Errorf("smpp: minimum backoff %s exceeds the maximum %s", cfg.BackoffMin, cfg.BackoffMax)
	}
	return nil
}

func (cfg *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.WindowSize == 0 {
		cfg.WindowSize = DefaultWindowSize
	}
	if cfg.ReceiptQueue == 0 {
		cfg.ReceiptQueue = DefaultReceiptQueue
	}
	def(&cfg.EnquireLinkInterval, DefaultEnquireLinkInterval)
	def(&cfg.ConnectTimeout, DefaultConnectTimeout)
	def(&cfg.RequestTimeout, DefaultRequestTimeout)
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = DefaultBackoffMin
		if cfg.BackoffMax > 0 {
			cfg.BackoffMin = min(cfg.BackoffMin, cfg.BackoffMax)
		}
	}
	def(&cfg.BackoffMax, max(DefaultBackoffMax, cfg.BackoffMin))
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
		if cfg.TLS.ServerName == "" {
			cfg.TLS.ServerName, _, _ = net.SplitHostPort(cfg.Addr)
		}
	}
	cfg.TLVs = append([]TLV(nil), cfg.TLVs...)
	if cfg.DLTEntityIDTag == 0 {
		cfg.DLTEntityIDTag = TagDLTEntityID
	}
	if cfg.DLTTemplateIDTag == 0 {
		cfg.DLTTemplateIDTag = TagDLTTemplateID
	}
}

// Name returns Config.Name, "smpp" by default.
func (c *Client) Name() string { return c.cfg.Name }

// Bound reports whether the client holds a bind now.
func (c *Client) Bound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateBound
}

// Send submits m and returns nil once the SMSC accepted it. See Submit.
//
// A message with India DLT ids (m.DLT) goes from its registered header,
// when it has one, as an alphanumeric source address (TON 5, NPI 0) in
// place of Config.Source, and carries its entity id and template id in the
// TLVs DLTEntityIDTag and DLTTemplateIDTag, replacing any of Config.TLVs
// with the same tags.
func (c *Client) Send(ctx context.Context, m sms.Message) error {
	_, err := c.SendID(ctx, m)
	return err
}

// SendID is Send, returning the SMSC's message_id, which its delivery
// receipts carry (Receipt.MessageID). It makes c an [sms.Submitter].
func (c *Client) SendID(ctx context.Context, m sms.Message) (string, error) {
	return c.Submit(ctx, c.message(m))
}

// message is the submit_sm of an sms.Message.
func (c *Client) message(m sms.Message) Message {
	msg := Message{To: m.To, Text: m.Text}
	if d := m.DLT; d != nil {
		if d.Header != "" {
			msg.Source = &Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: d.Header}
		}
		if d.EntityID != "" {
			msg.TLVs = append(msg.TLVs, TLV{Tag: c.cfg.DLTEntityIDTag, Value: []byte(d.EntityID)})
		}
		if d.TemplateID != "" {
			msg.TLVs = append(msg.TLVs, TLV{Tag: c.cfg.DLTTemplateIDTag, Value: []byte(d.TemplateID)})
		}
	}
	return msg
}

// Message is one submit_sm.
type Message struct {
	To   string // E.164, "+" and digits; sent as TON international, NPI ISDN
	Text string // sent as GSM-7 (data_coding 0) when it can be, else UCS-2 (8)
	// Source replaces Config.Source for this message when not nil (a DLT
	// header registered per template, for example).
	Source *Address
	// TLVs are added after Config.TLVs, replacing those with the same tag
	// (a DLT template id per template, for example).
	TLVs []TLV
}

// Submit sends one submit_sm and returns the message id the SMSC gave it.
// The text must fit one short_message (254 octets); composing a text that
// fits one SMS is the caller's business (sms.Composer), this client never
// splits one.
//
// Every error is an *[Error]. While the client is down between two
// connection attempts, Submit fails at once with the reason; while it is
// connecting, Submit waits for the bind within the request's time. Neither
// the number nor the text appears in errors or logs.
func (c *Client) Submit(ctx context.Context, m Message) (string, error) {
	body, err := c.submitBody(m)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", c.err("submit_sm", TryNext, err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	// timeout names what the request was waiting for when its time ran out.
	timeout := func(waiting string, unknown bool) error {
		cause := fmt.Errorf("%s within the request timeout of %s: %w", waiting, c.cfg.RequestTimeout, ctx.Err())
		if err := parent.Err(); err != nil { // the caller gave up: say so
			cause = fmt.Errorf("%s before the caller's deadline: %w", waiting, err)
		}
		e := c.err("submit_sm", TryNext, cause)
		e.unknown = unknown
		return e
	}

	cn, err := c.bound(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", timeout("no bind", false)
		}
		return "", err
	}
	select {
	case c.window <- struct{}{}:
		defer func() { <-c.window }()
	case <-ctx.Done():
		return "", timeout(fmt.Sprintf("no free slot in the window of %d", c.cfg.WindowSize), false)
	case <-c.ctx.Done():
		return "", c.err("submit_sm", TryNext, ErrClosed)
	}
	if c.limit != nil {
		if err := c.limit.wait(ctx); err != nil {
			if errors.Is(err, errRateWait) {
				return "", c.err("submit_sm", TryNext, fmt.Errorf("the local limit of %g per second leaves no time to send: %w", c.cfg.TPS, err))
			}
			return "", timeout("no turn under the rate limit", false)
		}
	}

	resp, sent, err := cn.request(ctx, PDU{Command: SubmitSM, Body: body})
	if err != nil {
		if ctx.Err() != nil {
			return "", timeout("no submit_sm_resp", sent)
		}
		e := c.err("submit_sm", TryNext, err)
		e.unknown = sent
		return "", e
	}
	if resp.Command == GenericNack || resp.Status != StatusOK {
		e := c.err("submit_sm", KindOf(SubmitSM, resp.Status), nil)
		e.Status = resp.Status
		if resp.Status == StatusOK { // a generic_nack that says nothing
			e.Err = errors.New("generic_nack without an error status")
		} else if resp.Command == GenericNack {
			e.Err = errors.New("generic_nack")
		}
		if resp.Status == StatusInvBndSts {
			// The SMSC no longer sees us as bound: bind again.
			cn.close(errors.New("the SMSC answered ESME_RINVBNDSTS"))
		}
		return "", e
	}
	r, ok := resp.Body.(*MessageIDResp)
	if resp.Command != SubmitSMResp || !ok {
		e := c.err("submit_sm", TryNext, fmt.Errorf("answered with %s", resp.Command))
		e.unknown = true
		return "", e
	}
	return r.MessageID, nil
}

func (c *Client) err(op string, kind Kind, cause error) *Error {
	return &Error{Addr: c.cfg.Addr, Op: op, Err: cause, kind: kind}
}

// submitBody builds the submit_sm of m, or a Rejected error.
func (c *Client) submitBody(m Message) (*SubmitSMBody, error) {
	reject := func(format string, a ...any) error {
		return c.err("submit_sm", Rejected, fmt.Errorf(format, a...))
	}
	digits := strings.TrimPrefix(m.To, "+")
	if len(digits) < 1 || len(digits) > 15 {
		return nil, reject("destination is not an E.164 number: %d digits", len(digits))
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, reject("destination is not an E.164 number: it has a character other than a digit")
		}
	}
	if m.Text == "" {
		return nil, reject("empty text")
	}
	coding, octets := EncodeText(m.Text)
	if len(octets) > MaxShortMessageLen {
		return nil, reject("text is %d octets in data_coding %d, over short_message's %d", len(octets), coding, MaxShortMessageLen)
	}
	src := c.cfg.Source
	if m.Source != nil {
		src = *m.Source
		if len(src.Addr) >= MaxAddrLen || strings.IndexByte(src.Addr, 0) >= 0 {
			return nil, reject("source address: %d octets or NUL, over the limit of %d", len(src.Addr), MaxAddrLen-1)
		}
	}
	tlvs := make([]TLV, 0, len(c.cfg.TLVs)+len(m.TLVs))
	for _, t := range c.cfg.TLVs {
		if _, replaced := FindTLV(m.TLVs, t.Tag); !replaced {
			tlvs = append(tlvs, t)
		}
	}
	for _, t := range m.TLVs {
		if len(t.Value) > 0xFFFF {
			return nil, reject("TLV 0x%04X: %d octets, over 65535", t.Tag, len(t.Value))
		}
		tlvs = append(tlvs, t)
	}
	registered := byte(ReceiptAlways)
	if c.cfg.NoReceipts {
		registered = ReceiptNone
	}
	return &SubmitSMBody{
		ServiceType:        c.cfg.ServiceType,
		Source:             src,
		Dest:               Address{TON: TONInternational, NPI: NPIISDN, Addr: digits},
		RegisteredDelivery: registered,
		DataCoding:         coding,
		ShortMessage:       octets,
		TLVs:               tlvs,
	}, nil
}

// bound returns the bound connection, waiting while a connection attempt
// is under way.
func (c *Client) bound(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		st, cn, lastErr, changed := c.state, c.cur, c.lastErr, c.changed
		c.mu.Unlock()
		switch st {
		case stateBound:
			select {
			case <-cn.done: // lost, and run has yet to notice: wait for it
			default:
				return cn, nil
			}
		case stateDown:
			if lastErr == nil { // not expected: down always has a reason
				return nil, c.err("submit_sm", TryNext, errors.New("not bound"))
			}
			return nil, lastErr
		case stateClosed:
			return nil, c.err("submit_sm", TryNext, ErrClosed)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Client) setState(st state, cn *conn, err *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return
	}
	c.state, c.cur, c.lastErr = st, cn, err
	close(c.changed)
	c.changed = make(chan struct{})
}

// Close unbinds, waiting up to RequestTimeout for the unbind_resp, and
// closes the connection. Sends in flight fail; later ones fail at once.
func (c *Client) Close() error {
	c.setState(stateClosed, nil, nil) // new sends fail from now on
	c.cancel()
	c.wg.Wait()
	return nil
}

// run connects, binds, keeps the bind alive and reconnects, until Close.
func (c *Client) run() {
	defer c.wg.Done()
	defer c.setState(stateClosed, nil, nil)
	backoff := c.cfg.BackoffMin
	for {
		c.setState(stateConnecting, nil, nil)
		cn, err := c.connect()
		if err == nil {
			backoff = c.cfg.BackoffMin
			c.setState(stateBound, cn, nil)
			err = c.keepAlive(cn)
			if c.ctx.Err() != nil {
				c.unbind(cn)
				return
			}
		}
		if c.ctx.Err() != nil {
			return
		}
		c.setState(stateDown, nil, err)
		wait := jitter(backoff)
		c.log.Warn("smpp: not bound", "error", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, c.cfg.BackoffMax)
	}
}

// jitter spreads d by ±25%, so that many clients do not reconnect in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + rand.N(d/2+1)
}

// connect dials, and binds within ConnectTimeout.
func (c *Client) connect() (*conn, *Error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
	defer cancel()
	fail := func(op string, err error) *Error {
		if ctx.Err() != nil && c.ctx.Err() == nil {
			err = fmt.Errorf("no answer within the connect timeout of %s: %w", c.cfg.ConnectTimeout, err)
		}
		return c.err(op, TryNext, err)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fail("connect", err)
	}
	if c.cfg.TLS != nil {
		tc := tls.Client(nc, c.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fail("connect", fmt.Errorf("TLS: %w", err))
		}
		nc = tc
	}
	cn := c.newConn(nc)

	cmd := c.cfg.BindMode.command()
	resp, _, err := cn.request(ctx, PDU{Command: cmd, Body: &Bind{
		SystemID:         c.cfg.SystemID,
		Password:         c.cfg.Password,
		SystemType:       c.cfg.SystemType,
		InterfaceVersion: InterfaceVersion,
	}})
	if err != nil {
		cn.close(err)
		return nil, fail("bind", err)
	}
	if resp.Status != StatusOK || resp.Command != cmd|GenericNack {
		cn.close(errors.New("bind refused"))
		e := c.err("bind", KindOf(cmd, resp.Status), nil)
		e.Status = resp.Status
		if resp.Command != cmd|GenericNack {
			e.Err = fmt.Errorf("answered with %s", resp.Command)
		}
		return nil, e
	}
	smsc := ""
	if b, ok := resp.Body.(*BindResp); ok {
		smsc = b.SystemID
	}
	c.log.Info("smpp: bound", "mode", c.cfg.BindMode.String(), "smsc_system_id", smsc)
	return cn, nil
}

// keepAlive sends enquire_link every EnquireLinkInterval until the
// connection ends, an enquire_link goes unanswered, or Close.
func (c *Client) keepAlive(cn *conn) *Error {
	t := time.NewTicker(c.cfg.EnquireLinkInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return c.err("session", TryNext, cn.cause())
		case <-c.ctx.Done():
			return nil
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
			_, _, err := cn.request(ctx, PDU{Command: EnquireLink})
			cancel()
			if c.ctx.Err() != nil {
				return nil
			}
			if err != nil {
				err = fmt.Errorf("enquire_link unanswered: %w", err)
				cn.close(err)
				return c.err("session", TryNext, err)
			}
		}
	}
}

// unbind ends a bound session politely, within RequestTimeout.
func (c *Client) unbind(cn *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	_, _, err := cn.request(ctx, PDU{Command: Unbind})
	cn.close(ErrClosed)
	if err != nil {
		c.log.Warn("smpp: unbind unanswered", "error", err)
	}
}

func (c *Client) dispatchReceipts() {
	defer c.wg.Done()
	for {
		select {
		case r := <-c.receipts:
			c.cfg.OnReceipt(r)
		case <-c.ctx.Done():
			return
		}
	}
}

// deliver queues a receipt for OnReceipt and says how to answer the SMSC.
func (c *Client) deliver(r Receipt) Status {
	if c.receipts == nil {
		return StatusOK
	}
	select {
	case c.receipts <- r:
		return StatusOK
	default:
		c.log.Warn("smpp: receipt queue full, asking the SMSC to try again later")
		return StatusTempAppErr
	}
}
