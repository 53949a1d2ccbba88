package otp_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// secret is a test secret whose key is its id's first letter, repeated.
func secret(id string) otp.Secret {
	return otp.Secret{ID: id, Key: bytes.Repeat([]byte(id[:1]), 32)}
}

// ring is a keyring of secrets, oldest first.
func ring(t *testing.T, secrets ...otp.Secret) *otp.Keyring {
	t.Helper()
	k, err := otp.NewKeyring(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyring(t *testing.T) {
	later := now.Add(time.Hour)
	staged := secret("b")
	staged.ActiveFrom = later
	k := ring(t, secret("a"), staged)
	if w := k.Writer(now); w.ID != "a" {
		t.Errorf("writer before b is active: %s, want a", w.ID)
	}
	if w := k.Writer(later); w.ID != "b" {
		t.Errorf("writer once b is active: %s, want b", w.ID)
	}
	var ids []string
	for _, s := range k.Secrets() {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "b,a" {
		t.Errorf("lookup order %v, want newest first", ids)
	}
	if s, ok := k.Find("a"); !ok || s.ID != "a" {
		t.Errorf("Find(a) = %v, %v", s, ok)
	}
	if _, ok := k.Find("c"); ok {
		t.Error("Find of an id not listed found one")
	}
	// Not one writer in the future: the oldest writes.
	if w := ring(t, staged).Writer(now); w.ID != "b" {
		t.Errorf("writer of a keyring whose one secret is not active yet: %s", w.ID)
	}
	for name, secrets := range map[string][]otp.Secret{
		"none":      nil,
		"twice":     {secret("a"), secret("a")},
		"short key": {{ID: "a", Key: make([]byte, 31)}},
		"bad id":    {{ID: "a b", Key: make([]byte, 32)}},
		"empty id":  {{Key: make([]byte, 32)}},
	} {
		if _, err := otp.NewKeyring(secrets...); err == nil {
			t.Errorf("%s: NewKeyring accepted it", name)
		}
	}
}

// TestRotationKeepsCodesAndReplays: a code sent under secret a verifies after
// a restart with [a, b], and a request fingerprinted under a is still
// recognised (replayed, or refused with another payload); what is written
// after the restart is keyed under b.
func TestRotationKeepsCodesAndReplays(t *testing.T) {
	ctx := context.Background()
	h := newSQLiteHarness(t, func(c *otp.Config) { c.Secrets = ring(t, secret("a")) },
		otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive},
		otp.Account{ID: "A2", Phone: phone2, Status: otp.StatusActive})
	send1, err := h.svc.Send(ctx, legacySend("send-1", "send 1"))
	expect(t, "sendOtp under a", send1, err, otp.SendSuccess)
	code := h.sms.last(t).code
	miss, err := h.svc.Verify(ctx, legacyVerify("verify-0", "send-1", wrong(code)))
	expect(t, "a wrong code under a", miss, err, otp.VerifyNotMatched)
	if rec := h.record(t, "", "sendOtp", "send-1"); rec.SecretID != "a" {
		t.Errorf("the record names secret %q, want a", rec.SecretID)
	}

	h.restart(t, ring(t, secret("a"), secret("b")))
	// Replays of requests fingerprinted under a: the stored answers, and
	// nothing happens again.
	again, err := h.svc.Send(ctx, legacySend("send-1", "send 1"))
	expect(t, "sendOtp replayed under [a b]", again, err, otp.SendSuccess)
	if again.ReplyID != send1.ReplyID || len(h.sms.sent()) != 1 {
		t.Errorf("the replay was not recognised: reply %s (first %s), %d SMS", again.ReplyID, send1.ReplyID, len(h.sms.sent()))
	}
	missAgain, err := h.svc.Verify(ctx, legacyVerify("verify-0", "send-1", wrong(code)))
	expect(t, "verifyOtp replayed under [a b]", missAgain, err, otp.VerifyNotMatched)
	if missAgain.ReplyID != miss.ReplyID {
		t.Errorf("the verifyOtp replay got a new answer")
	}
	if _, err := h.svc.Send(ctx, legacySend("send-1", "another payload")); !errors.Is(err, otp.ErrIdempotency) {
		t.Errorf("another payload under the requestId keyed by a: %v, want ErrIdempotency", err)
	}
	// The live code of a verifies, and counted one attempt before.
	out, err := h.svc.Verify(ctx, legacyVerify("verify-1", "send-1", code))
	expect(t, "the code sent under a, after the restart", out, err, otp.VerifySuccess)

	// New writes go under b, and verify under [a b] and under [b].
	send2, err := h.svc.Send(ctx, otp.SendRequest{Ref: ref("", "sendOtp", "send-2", "send 2"), Phone: phone2, PhoneValid: true})
	expect(t, "sendOtp under [a b]", send2, err, otp.SendSuccess)
	code2 := h.sms.last(t).code
	rec := h.record(t, "", "sendOtp", "send-2")
	if rec.SecretID != "b" {
		t.Errorf("a record written under [a b] names %q, want b", rec.SecretID)
	}
	var secretOfCode string
	if err := h.db.QueryRow(`SELECT secret_id FROM challenges WHERE id = ?`, rec.ChallengeID).Scan(&secretOfCode); err != nil || secretOfCode != "b" {
		t.Errorf("the code written under [a b] names %q (%v), want b", secretOfCode, err)
	}
	h.restart(t, ring(t, secret("b")))
	out, err = h.svc.Verify(ctx, legacyVerify("verify-2", "send-2", code2))
	expect(t, "the code sent under b, once a is gone", out, err, otp.VerifySuccess)
}

// TestRotationUnderLoad: two instances share the database while one of them
// restarts onto [a b]: codes sent by the old one (under a) verify on the new
// one, and their retries replay there, with no code lost, no second SMS.
func TestRotationUnderLoad(t *testing.T) {
	ctx := context.Background()
	const n = 20
	var accounts []otp.Account
	for i := range n {
		accounts = append(accounts, otp.Account{ID: fmt.Sprint("A", i), Phone: fmt.Sprintf("+9198765432%02d", i), Status: otp.StatusActive})
	}
	h := newHarnessWith(t, func(c *otp.Config) { c.Secrets = ring(t, secret("a")) }, accounts...)
	old := h.svc
	h.restart(t, ring(t, secret("a"), secret("b")))
	rotated := h.svc

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("send-", i)
			send := otp.SendRequest{Ref: ref("", "sendOtp", id, id), Phone: accounts[i].Phone, PhoneValid: true}
			first, err := old.Send(ctx, send)
			if err != nil || first.Result != otp.SendSuccess {
				errs <- fmt.Errorf("%s on the old instance: %+v, %v", id, first, err)
				return
			}
			retry, err := rotated.Send(ctx, send)
			if err != nil || retry.ReplyID != first.ReplyID {
				errs <- fmt.Errorf("%s retried on the rotated instance: %+v, %v; want the first answer", id, retry, err)
				return
			}
			code := h.sms.codeFor(accounts[i].Phone)
			out, err := rotated.Verify(ctx, legacyVerify(fmt.Sprint("verify-", i), id, code))
			if err != nil || out.Result != otp.VerifySuccess {
				errs <- fmt.Errorf("the code of %s on the rotated instance: %+v, %v", id, out, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(h.sms.sent()); got != n {
		t.Errorf("%d SMS, want %d", got, n)
	}
}

// TestStagedRotation: a secret listed with a time to start writing only
// verifies until then, so that instances restarted onto it one by one can
// all verify what the first of them writes.
func TestStagedRotation(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: now}
	b := secret("b")
	b.ActiveFrom = now.Add(time.Hour)
	h := newHarnessWith(t, func(cfg *otp.Config) { cfg.Now, cfg.Secrets = c.Now, ring(t, secret("a")) },
		otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive})
	old := h.svc
	h.restart(t, ring(t, secret("a"), b))
	staged := h.svc

	out, err := staged.Send(ctx, legacySend("send-1", "send 1"))
	expect(t, "sendOtp before b is active", out, err, otp.SendSuccess)
	out, err = old.Verify(ctx, legacyVerify("verify-1", "send-1", h.sms.last(t).code))
	expect(t, "its code on an instance that knows only a", out, err, otp.VerifySuccess)

	c.Advance(time.Hour)
	out, err = staged.Send(ctx, legacySend("send-2", "send 2"))
	expect(t, "sendOtp once b is active", out, err, otp.SendSuccess)
	if rec := h.record(t, "", "sendOtp", "send-2"); rec.SecretID != "b" {
		t.Errorf("written once b is active under %q, want b", rec.SecretID)
	}
}

// TestRotationKeepsPhoneBudgets: phones are named in budget events by a
// keyed hash, under the writing secret; a rotation neither resets a phone's
// budgets nor lets them be spent twice, as every listed secret's name counts.
func TestRotationKeepsPhoneBudgets(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: now}
	h := newHarnessWith(t, func(cfg *otp.Config) { cfg.Now, cfg.Secrets = c.Now, ring(t, secret("a")) },
		otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
		otp.Account{ID: "A2", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-2"}})
	send := func(id, association string) (otp.Outcome, error) {
		return h.svc.Send(ctx, otp.SendRequest{Ref: ref("", "sendOtp", id, id), AssociationID: association})
	}
	// Five sends in 15 minutes spend the phone's budget: three before the
	// rotation, two after, to two accounts.
	for i := range 3 {
		out, err := send(fmt.Sprint("a-", i), "as-1")
		expect(t, "sendOtp under a", out, err, otp.SendSuccess)
		c.Advance(time.Minute)
	}
	h.restart(t, ring(t, secret("a"), secret("b")))
	for i := range 2 {
		out, err := send(fmt.Sprint("b-", i), "as-2")
		expect(t, "sendOtp under [a b]", out, err, otp.SendSuccess)
		c.Advance(time.Minute)
	}
	out, err := send("b-last", "as-2")
	expect(t, "the sixth send to the phone in 15 minutes", out, err, otp.SendLimitReached)
}

// TestNoPhoneAtRest: outside the directory (accounts), no table holds a
// phone number: challenges have none, budget events name the phone by a
// keyed hash, and a failed send gives its budget back under that name.
func TestNoPhoneAtRest(t *testing.T) {
	ctx := context.Background()
	h := newSQLiteHarness(t, nil, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, Cards: []otp.Card{visaCard}})
	out, err := h.svc.Send(ctx, legacySend("send-1", "send 1"))
	expect(t, "sendOtp", out, err, otp.SendSuccess)
	code := h.sms.last(t).code
	out, err = h.svc.Verify(ctx, legacyVerify("verify-1", "send-1", wrong(code)))
	expect(t, "a wrong code", out, err, otp.VerifyNotMatched)
	out, err = h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
	expect(t, "authenticate", out, err, otp.SendSuccess)
	out, err = h.svc.Resend(ctx, otp.ResendRequest{Ref: ref(piaid, "resendOtp", "resend-1", "resend 1"),
		AuthenticateRequestID: "auth-1", SessionMethod: "authenticate"})
	expect(t, "resendOtp", out, err, otp.ResendSuccess)
	if texts := h.sms.sent(); len(texts) != 3 || texts[2].phone != phone1 {
		t.Fatalf("SMS %+v; want three, the resend's to the directory's phone", texts)
	}
	digits := strings.TrimPrefix(phone1, "+")
	for _, table := range []string{"requests", "challenges", "events"} {
		if where := dump(t, h.db, table); strings.Contains(where, digits[len(digits)-7:]) {
			t.Errorf("%s holds the phone number:\n%s", table, where)
		}
	}
	var phoneEvents int
	if err := h.db.QueryRow(`SELECT COUNT(*) FROM events WHERE subject LIKE 'phone:%'`).Scan(&phoneEvents); err != nil || phoneEvents == 0 {
		t.Errorf("no budget event names the phone (%v): the phone's budgets would count nothing", err)
	}
}

// dump is every row of table as text.
func dump(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if raw, ok := v.([]byte); ok {
				v = string(raw)
			}
			fmt.Fprintf(&b, "%s=%v ", cols[i], v)
		}
		b.WriteString("\n")
	}
	return b.String()
}
