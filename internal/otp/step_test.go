package otp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// The send path's enums are switched on exhaustively: a value that no case
// names is an error, never a silent default. These reach the defaults that
// no caller can reach from outside the package.

func TestStepReply(t *testing.T) {
	out := Outcome{Result: SendSuccess, ReplyID: "r"}
	if got, err := answer(out).reply(); err != nil || got != out {
		t.Errorf("an answer's reply = %+v, %v; want %+v", got, err, out)
	}
	if _, err := withdrawn.reply(); !errors.Is(err, ErrSendFailed) {
		t.Errorf("a withdrawn step's reply: %v, want ErrSendFailed", err)
	}
	for _, st := range []step{deliverPlan(&sendPlan{}), {}, {kind: stepWithdrawn + 1}} {
		if _, err := st.reply(); err == nil || !strings.Contains(err.Error(), "a send ended at step") {
			t.Errorf("the reply of step %s = %v, want an error", st.kind, err)
		}
	}
}

// oneRecord is a Tx that holds one idempotency record and updates it.
type oneRecord struct {
	Tx  // nil: any other method panics
	rec *Request
}

func (o *oneRecord) LockRequest(scope, method, id string) (*Request, error) {
	r := *o.rec
	return &r, nil
}

func (o *oneRecord) UpdateRequest(r *Request) error { o.rec = r; return nil }

func TestUnknownEnumValues(t *testing.T) {
	now := time.Date(2026, time.March, 15, 10, 0, 0, 0, time.UTC)
	svc, err := New(Config{Store: nilStore{}, Messenger: nilMessenger{}, Policy: DefaultPolicy(),
		Secret: bytes.Repeat([]byte("s"), 32), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ref := Ref{RequestID: "send-1", Method: "sendOtp", Fingerprint: []byte("send")}
	rec := svc.newRequest(ref, now, RequestState("archived"), "")

	// A record in a state the code does not know is not taken for new,
	// nor for pending.
	st, seen, err := svc.existing(&oneRecord{rec: rec}, ref, delivery{onFailure: answerUnableToSend}, now)
	if !seen || err == nil || !strings.Contains(err.Error(), `state "archived"`) {
		t.Errorf("existing of a record in an unknown state = %+v, %v, %v; want seen and an error naming it", st, seen, err)
	}

	// A delivery that says nothing of failures neither answers nor
	// withdraws.
	rec.State = RequestPending
	tx := &oneRecord{rec: rec}
	if st, err := svc.giveUp(tx, rec, delivery{}); err == nil || st.kind != 0 {
		t.Errorf("giveUp with no onFailure = %+v, %v; want an error", st, err)
	}
	if tx.rec.State != RequestPending {
		t.Errorf("giveUp with no onFailure changed the record to %s", tx.rec.State)
	}
	if st, err := svc.giveUp(tx, rec, delivery{onFailure: answerUnableToSend}); err != nil || st.kind != stepAnswer || st.out.Result != SendUnableToSend {
		t.Errorf("giveUp answering = %+v, %v; want %s", st, err, SendUnableToSend)
	}
}

type nilStore struct{ Store }

type nilMessenger struct{ Messenger }
