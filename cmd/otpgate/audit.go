package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/otp"
)

// auditFileName is the audit log's file in the data directory by default.
const auditFileName = "audit.jsonl"

// auditFlags are serve's settings of the audit trail. It is on by default:
// a bank is asked for the trail of every code after the fact, when it is
// too late to turn it on.
type auditFlags struct {
	AuditLog     string   `name:"audit-log" help:"Audit trail of security-relevant events (codes sent, verified, failed, lockouts, configuration, keys, secrets): hash-chained JSON lines appended to FILE, - for standard output, off for none. Default: audit.jsonl in the data directory." placeholder:"FILE"`
	AuditMaxSize byteSize `name:"audit-max-size" help:"Rotate the audit file before it grows past this size (e.g. 100MiB; 0: never); the chain continues in the new file. SIGHUP rotates too." default:"100MiB"`
	AuditNoSync  bool     `name:"audit-no-sync" help:"Do not fsync each audit record before the answer leaves: faster, but a power cut can lose the last records."`
}

// path is where the audit log goes: a file, audit.Stdout, or "" for none.
func (f *auditFlags) path(dataDir string) string {
	switch f.AuditLog {
	case "off":
		return ""
	case "":
		return filepath.Join(dataDir, auditFileName)
	}
	return f.AuditLog
}

// byteSize reads sizes such as 100MiB, 1GB, 512KiB or a count of bytes.
type byteSize int64

func (b *byteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	units := []struct {
		suffix string
		size   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.size
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("size %q: want a count of bytes, or one with KiB, MiB, GiB, KB, MB or GB, e.g. 100MiB", text)
	}
	*b = byteSize(n * mult)
	return nil
}

// auditTrail is serve's audit log: the otp.Auditor of the domain's
// outcomes, and the events only the command knows (configuration, keys,
// secrets). Its zero value, with no log, records nothing.
type auditTrail struct {
	log     *audit.Log
	logger  *slog.Logger
	written prometheus.CounterFunc // the log's own count: it sees the audit.opened records too
	failed  prometheus.Counter
}

// openAudit opens the audit log, or none with --audit-log off. A log that
// cannot be opened stops the start: a bank would rather not serve than
// serve unaudited.
func (c *serveCmd) openAudit(logger *slog.Logger) (*auditTrail, error) {
	t := &auditTrail{logger: logger,
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "otpgate_audit_write_errors_total",
			Help: "Audit records that could not be written (each is also logged at error level)."}),
	}
	t.written = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "otpgate_audit_records_total",
		Help: "Audit records written, those the log writes itself when it opens and rotates included."}, t.recordsWritten)
	path := c.path(c.DataDir)
	if path == "" {
		logger.Warn("the audit trail is off (--audit-log off)")
		return t, nil
	}
	if path != audit.Stdout && c.AuditLog == "" {
		if err := ensureDataDir(c.DataDir); err != nil {
			return nil, err
		}
	}
	l, err := audit.Open(path, audit.Options{MaxSize: int64(c.AuditMaxSize), Sync: !c.AuditNoSync})
	if err != nil {
		return nil, fmt.Errorf("--audit-log: %w", err)
	}
	t.log = l
	return t, nil
}

// startAudit opens the audit trail, records the configuration and rotates
// the file on SIGHUP from now on.
func (c *serveCmd) startAudit(ctx context.Context, logger *slog.Logger) (*auditTrail, error) {
	t, err := c.openAudit(logger)
	if err != nil {
		return nil, err
	}
	t.configLoaded(c)
	t.rotateOnSignal(ctx)
	return t, nil
}

// watch adds the trail's metrics to the server's and records the keys
// that expire soon, now and daily.
func (t *auditTrail) watch(ctx context.Context, metrics interface {
	Register(...prometheus.Collector) error
}, keys func() []envelope.KeyInfo) error {
	if err := metrics.Register(t.written, t.failed); err != nil {
		return fmt.Errorf("audit metrics: %w", err)
	}
	t.watchKeys(ctx, keys)
	return nil
}

// record appends one event with fields, a JSON object (audit.Fields, or a
// struct). A failure is logged and counted, not returned: what it records
// has happened (an SMS is out), and the alert on
// otpgate_audit_write_errors_total is how it is not lost silently.
func (t *auditTrail) record(event string, fields any) {
	if t == nil || t.log == nil {
		return
	}
	if err := t.log.Append(event, fields); err != nil {
		t.failed.Inc()
		t.logger.Error("audit record not written", "event", event, "error", err)
	}
}

// recordsWritten is otpgate_audit_records_total.
func (t *auditTrail) recordsWritten() float64 {
	if t.log == nil {
		return 0
	}
	return float64(t.log.Written())
}

// Audit records an outcome of the domain (otp.Auditor).
func (t *auditTrail) Audit(_ context.Context, e otp.AuditEvent) {
	t.record(e.Event, outcomeFields{Method: e.Method, RequestID: e.RequestID, Scope: e.Scope, Result: e.Result,
		Account: e.AccountID, Phone: e.Phone, Challenge: e.Challenge, Provider: e.Provider, MessageID: e.MessageID,
		Reason: e.Reason, Error: e.Error, Attempt: max(e.Attempt, 0)})
}

// outcomeFields are the fields of an outcome's record: method and requestId
// always, the others when set. A struct rather than a map built per
// request; its members are in the order encoding/json writes a map's keys
// (sorted), so that a record reads as it always has.
type outcomeFields struct {
	Account   string `json:"account,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	Challenge string `json:"challenge,omitempty"`
	Error     string `json:"error,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	Method    string `json:"method"`
	Phone     string `json:"phone,omitempty"`
	Provider  string `json:"provider,omitempty"`
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"requestId"`
	Result    string `json:"result,omitempty"`
	Scope     string `json:"scope,omitempty"`
}

// auditor is the trail as the domain's hook: nil when off, so that the
// domain skips its work.
func (t *auditTrail) auditor() otp.Auditor {
	if t.log == nil {
		return nil
	}
	return t
}

// configLoaded records the effective configuration by its hash: enough to
// tell that two starts ran the same settings, or that they changed,
// without writing a setting (some carry credentials) into the trail.
func (t *auditTrail) configLoaded(c *serveCmd) {
	f := audit.Fields{"version": versionString(), "listen": c.Listen, "database": c.databaseName(), "surfaces": c.Surfaces, "dev": c.Dev}
	if b, err := json.Marshal(c); err != nil {
		// A setting of a type JSON cannot write: the record says so
		// rather than stop the start over a hash.
		f["sha256Error"] = err.Error()
	} else {
		sum := sha256.Sum256(b)
		f["sha256"] = hex.EncodeToString(sum[:])
	}
	t.record("config.loaded", f)
}

// secretsLoaded records the ids of the code and card secrets serve reads
// (never the secrets), which one writes now, and, at the moment it comes,
// each listed secret's activation: a rotation is on the trail when it
// takes effect.
func (t *auditTrail) secretsLoaded(ctx context.Context, c *serveCmd) error {
	if t.log == nil {
		return nil
	}
	for _, s := range []struct{ purpose, file, name string }{
		{"code", c.CodeSecretFile, codeSecretFile}, {"card", c.CardSecretFile, cardSecretFile},
	} {
		keys, err := loadKeyring(s.file, c.DataDir, s.name)
		if err != nil {
			return err
		}
		file := s.file
		if file == "" {
			file = filepath.Join(c.DataDir, s.name)
		}
		now := time.Now()
		var ids []string
		for _, k := range keys.Secrets() {
			ids = append(ids, k.ID)
			if k.ActiveFrom.After(now) {
				go t.recordActivation(ctx, s.purpose, k, keys)
			}
		}
		t.record("secrets.loaded", audit.Fields{"purpose": s.purpose, "file": file, "ids": ids, "writer": keys.Writer(now).ID})
	}
	return nil
}

// recordActivation waits for a secret's activation and records it.
func (t *auditTrail) recordActivation(ctx context.Context, purpose string, s otp.Secret, keys *otp.Keyring) {
	timer := time.NewTimer(time.Until(s.ActiveFrom))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return
	case <-timer.C:
	}
	t.record("secret.activated", audit.Fields{"purpose": purpose, "id": s.ID, "activeFrom": s.ActiveFrom.UTC(),
		"writer": keys.Writer(time.Now()).ID})
}

// watchKeys records every key that expires within 30 days, at start and
// then daily while serve runs.
func (t *auditTrail) watchKeys(ctx context.Context, keys func() []envelope.KeyInfo) {
	if t.log == nil || keys == nil {
		return
	}
	check := func() {
		for _, k := range keys() {
			if k.ExpiringSoon {
				t.record("key.expiring", audit.Fields{"scheme": k.Scheme, "owner": k.Owner, "id": k.ID, "usage": k.Usage, "expires": k.Expires.UTC()})
			}
		}
	}
	check()
	go func() {
		tick := time.NewTicker(24 * time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				check()
			}
		}
	}()
}

// rotateOnSignal rotates the audit file on SIGHUP, until ctx ends.
func (t *auditTrail) rotateOnSignal(ctx context.Context) {
	if t.log == nil || t.log.Path() == audit.Stdout {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := t.log.Rotate(audit.ReasonSignal); err != nil {
					t.failed.Inc()
					t.logger.Error("audit log not rotated", "error", err)
					continue
				}
				t.logger.Info("audit log rotated (SIGHUP)", "file", t.log.Path())
			}
		}
	}()
}

// close closes the log and logs its head: the anchor that a later
// `otpgate audit verify --anchor` checks is still in the chain.
func (t *auditTrail) close() {
	if t.log == nil {
		return
	}
	seq, head := t.log.Head()
	if err := t.log.Close(); err != nil {
		t.logger.Error("closing the audit log", "error", err)
	}
	t.logger.Info("audit log closed", "file", t.log.Path(), "seq", seq, "head", head)
}

type auditCmd struct {
	Verify auditVerifyCmd `cmd:"" help:"Check the hash chain of audit log files and name the first broken record."`
}

type auditVerifyCmd struct {
	Files     []string `arg:"" help:"The audit files in the order they were written: rotated ones oldest first, then the current one (FILE.* FILE)." type:"path"`
	Continued bool     `help:"The first file continues a chain whose earlier files are archived elsewhere: accept its first record without checking its link back."`
	Anchor    string   `help:"Hash of a record noted earlier (printed by a previous verify as the head, or logged by serve when it stops): the chain must still hold it, which shows records deleted from the end." placeholder:"SHA256"`
}

func (c *auditVerifyCmd) Run() error {
	rep, err := audit.Verify(c.Files, audit.VerifyOptions{Continued: c.Continued, Anchor: c.Anchor})
	var b *audit.Break
	if errors.As(err, &b) {
		return fmt.Errorf("audit chain broken at %s: %s: %s", b.At, b.Kind, b.Detail)
	}
	if err != nil {
		return err
	}
	for _, p := range rep.Recoveries {
		fmt.Printf("note: %s is a record torn by a crash, kept and named by the record after it\n", p)
	}
	fmt.Printf("ok: %d records in %d files, seq %d to %d; head %s\n", rep.Records, rep.Files, rep.First, rep.Last, rep.Head)
	return nil
}
