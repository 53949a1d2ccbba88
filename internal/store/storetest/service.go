package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
)

// messenger is an otp.Messenger that keeps the codes it is given.
type messenger struct {
	mu    sync.Mutex
	codes []string
}

func (m *messenger) SendCode(_ context.Context, msg otp.CodeSMS) (otp.Submission, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codes = append(m.codes, msg.Code)
	return otp.Submission{Provider: "storetest", MessageID: fmt.Sprint("m-", len(m.codes))}, nil
}

func (m *messenger) sent() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.codes...)
}

const scope = "piaid"

// services builds one otp.Service per store, as each instance would, all
// texting through one messenger; the directory holds one active account.
func services(t *testing.T, open Opener) ([]*otp.Service, *messenger, []otp.Store) {
	t.Helper()
	stores := open(t, Instances)
	warmUp(t, stores)
	importAccounts(t, stores[0], otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-1"}})
	m := &messenger{}
	var svcs []*otp.Service
	for _, s := range stores {
		svc, err := otp.New(otp.Config{Store: s, Messenger: m, Policy: otp.DefaultPolicy(), Secret: bytes.Repeat([]byte("k"), 32)})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	return svcs, m, stores
}

func sendRequest(id string) otp.SendRequest {
	return otp.SendRequest{
		Ref:   otp.Ref{Scope: scope, RequestID: id, Method: "sendOtp", Fingerprint: []byte("send " + id)},
		Phone: phone1, PhoneValid: true, AssociationID: "as-1",
	}
}

func verifyRequest(id, sendID, code string) otp.VerifyRequest {
	return otp.VerifyRequest{
		Ref:           otp.Ref{Scope: scope, RequestID: id, Method: "verifyOtp", Fingerprint: []byte("verify " + id + code)},
		SendRequestID: sendID, SendMethod: "sendOtp", Code: code,
	}
}

// sendOne sends a code through svc and returns it.
func sendOne(t *testing.T, svc *otp.Service, m *messenger, id string) string {
	t.Helper()
	before := len(m.sent())
	out, err := svc.Send(context.Background(), sendRequest(id))
	if err != nil || out.Result != otp.SendSuccess {
		t.Fatalf("Send = %+v, %v", out, err)
	}
	codes := m.sent()
	if len(codes) != before+1 {
		t.Fatalf("%d SMS for one sendOtp", len(codes)-before)
	}
	return codes[len(codes)-1]
}

// spread runs fn(i, svc) for i in [0, N) at once over the services.
func spread(t *testing.T, svcs []*otp.Service, fn func(i int, svc *otp.Service) (otp.Outcome, error)) []otp.Outcome {
	t.Helper()
	outs := make([]otp.Outcome, N)
	atOnce(func(i int) {
		var err error
		if outs[i], err = fn(i, svcs[i%len(svcs)]); err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	})
	return outs
}

func results(outs []otp.Outcome) map[string]int {
	n := map[string]int{}
	for _, o := range outs {
		n[o.Result]++
	}
	return n
}

// testServiceOneSuccess: N verifyOtp with the right code, each with its own
// requestId, spread over the instances: one SUCCESS, the rest already used.
func testServiceOneSuccess(t *testing.T, open Opener) {
	svcs, m, _ := services(t, open)
	code := sendOne(t, svcs[0], m, "send-1")
	outs := spread(t, svcs, func(i int, svc *otp.Service) (otp.Outcome, error) {
		return svc.Verify(context.Background(), verifyRequest(fmt.Sprint("verify-", i), "send-1", code))
	})
	if got := results(outs); got[otp.VerifySuccess] != 1 || got[otp.VerifyAlreadyUsed] != N-1 {
		t.Errorf("results of %d verifications of one code: %v; want 1 success, the rest already used", N, got)
	}
}

// testServiceSameSend: one sendOtp arriving N times at once on the
// instances: one SMS, one answer for all.
func testServiceSameSend(t *testing.T, open Opener) {
	svcs, m, _ := services(t, open)
	outs := spread(t, svcs, func(i int, svc *otp.Service) (otp.Outcome, error) {
		return svc.Send(context.Background(), sendRequest("send-1"))
	})
	if n := len(m.sent()); n != 1 {
		t.Errorf("%d SMS for one requestId, want 1", n)
	}
	for i, o := range outs {
		if o != outs[0] || o.Result != otp.SendSuccess {
			t.Errorf("answer %d: %+v, want the first one (%+v), a success", i, o, outs[0])
		}
	}
}

// testServiceAttemptCap: N wrong guesses spread over the instances spend the
// attempts exactly; the right code then no longer works.
func testServiceAttemptCap(t *testing.T, open Opener) {
	svcs, m, stores := services(t, open)
	code := sendOne(t, svcs[0], m, "send-1")
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	outs := spread(t, svcs, func(i int, svc *otp.Service) (otp.Outcome, error) {
		return svc.Verify(context.Background(), verifyRequest(fmt.Sprint("wrong-", i), "send-1", string(wrong)))
	})
	if got := results(outs); got[otp.VerifyNotMatched] != N {
		t.Errorf("results of %d wrong guesses: %v", N, got)
	}
	rec := lockRequest(t, stores[0], scope, "sendOtp", "send-1")
	if c := lockChallenge(t, stores[0], rec.ChallengeID); c == nil || c.Attempts != otp.DefaultPolicy().MaxAttempts {
		t.Errorf("challenge after %d wrong guesses: %+v, want %d attempts", N, c, otp.DefaultPolicy().MaxAttempts)
	}
	out, err := svcs[1%len(svcs)].Verify(context.Background(), verifyRequest("right", "send-1", code))
	if err != nil || out.Result != otp.VerifyNotMatched {
		t.Errorf("the right code after the attempts ran out: %+v, %v; want not matched", out, err)
	}
}

// testServiceSendBudget: N sendOtp for one account, each its own requestId,
// spread over the instances: the send budget lets exactly its count through,
// and at most one code is valid at the end.
func testServiceSendBudget(t *testing.T, open Opener) {
	svcs, m, stores := services(t, open)
	outs := spread(t, svcs, func(i int, svc *otp.Service) (otp.Outcome, error) {
		out, err := svc.Send(context.Background(), sendRequest(fmt.Sprint("send-", i)))
		if errors.Is(err, otp.ErrInFlight) {
			err = fmt.Errorf("%w (a distinct requestId cannot be in flight)", err)
		}
		return out, err
	})
	budget := otp.DefaultPolicy().SendBudgets[0].Count
	got := results(outs)
	if got[otp.SendSuccess] != budget || got[otp.SendLimitReached] != N-budget || len(m.sent()) != budget {
		t.Errorf("%d sends under a budget of %d: %v and %d SMS", N, budget, got, len(m.sent()))
	}
	live := 0
	for i := range N {
		rec := lockRequest(t, stores[0], scope, "sendOtp", fmt.Sprint("send-", i))
		if rec == nil || rec.ChallengeID == "" {
			continue
		}
		if c := lockChallenge(t, stores[0], rec.ChallengeID); c != nil && c.State == otp.ChallengeLive {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d live codes for one account, want 1", live)
	}
}
