package otp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
)

// Google's own examples reuse one requestId across methods (SPEC §4).
const (
	legacyExampleID = "0123434-otp-abc" // its sendOtp and its verifyOtp
	cardsExampleID  = "cmVxdWVzdDE"     // its resendOtp and its verifyOtp
)

func legacySend(id, payload string) otp.SendRequest {
	return otp.SendRequest{Ref: ref("", "sendOtp", id, payload), Phone: phone1, PhoneValid: true}
}

func legacyVerify(id, sendID, code string) otp.VerifyRequest {
	return otp.VerifyRequest{Ref: ref("", "verifyOtp", id, "verify "+sendID+" "+code),
		SendRequestID: sendID, SendMethod: "sendOtp", Code: code}
}

// TestRequestIDAcrossMethods plays Google's legacy example: a sendOtp, then a
// verifyOtp of it under the same requestId. Each is a request of its own,
// with its own record and its own effect.
func TestRequestIDAcrossMethods(t *testing.T) {
	h := newHarness(t, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive})
	ctx := context.Background()

	send, err := h.svc.Send(ctx, legacySend(legacyExampleID, "send"))
	expect(t, "sendOtp", send, err, otp.SendSuccess)
	code := h.sms.last(t).code
	verify, err := h.svc.Verify(ctx, legacyVerify(legacyExampleID, legacyExampleID, code))
	expect(t, "verifyOtp under the sendOtp's requestId", verify, err, otp.VerifySuccess)

	sendRec := h.record(t, "", "sendOtp", legacyExampleID)
	verifyRec := h.record(t, "", "verifyOtp", legacyExampleID)
	if sendRec == nil || verifyRec == nil {
		t.Fatalf("records: sendOtp %+v, verifyOtp %+v; want both", sendRec, verifyRec)
	}
	if sendRec.Result != otp.SendSuccess || sendRec.ReplyID != send.ReplyID {
		t.Errorf("sendOtp's record %+v: want its own answer %+v", sendRec, send)
	}
	if verifyRec.Result != otp.VerifySuccess || verifyRec.ReplyID != verify.ReplyID {
		t.Errorf("verifyOtp's record %+v: want its own answer %+v", verifyRec, verify)
	}

	// Retries of each replay its own answer, with no second effect.
	again, err := h.svc.Send(ctx, legacySend(legacyExampleID, "send"))
	if err != nil || again != send {
		t.Errorf("sendOtp retried = %+v, %v; want %+v again", again, err, send)
	}
	if n := len(h.sms.sent()); n != 1 {
		t.Errorf("%d SMS after a sendOtp and its retry, want 1", n)
	}
	again, err = h.svc.Verify(ctx, legacyVerify(legacyExampleID, legacyExampleID, code))
	if err != nil || again != verify {
		t.Errorf("verifyOtp retried = %+v, %v; want %+v again", again, err, verify)
	}
}

// TestRequestIDAcrossCardMethods plays Google's India Cards examples: a
// resendOtp and a verifyOtp of one authentication sharing a requestId. The
// resend texts a new code, and the verifyOtp consumes it.
func TestRequestIDAcrossCardMethods(t *testing.T) {
	h := newHarness(t, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, Cards: []otp.Card{visaCard}})
	ctx := context.Background()
	const authID = "G112YZH4XPDV88J" // the authenticateRequestId of Google's resendOtp example

	out, err := h.svc.Authenticate(ctx, byCard(authID, visaCard.Hash, 2030, 1))
	expect(t, "authenticate", out, err, otp.SendSuccess)

	out, err = h.svc.Resend(ctx, otp.ResendRequest{Ref: ref(piaid, "resendOtp", cardsExampleID, "resend"),
		AuthenticateRequestID: authID, SessionMethod: "authenticate"})
	expect(t, "resendOtp", out, err, otp.ResendSuccess)
	if n := len(h.sms.sent()); n != 2 {
		t.Fatalf("%d SMS after authenticate and resendOtp, want 2", n)
	}

	code := h.sms.last(t).code
	out, err = h.svc.Verify(ctx, otp.VerifyRequest{Ref: ref(piaid, "cardVerifyOtp", cardsExampleID, "verify "+code),
		SendRequestID: authID, SendMethod: "authenticate", Code: code})
	expect(t, "verifyOtp of the resent code, under the resendOtp's requestId", out, err, otp.VerifySuccess)

	for method, want := range map[string]string{"resendOtp": otp.ResendSuccess, "cardVerifyOtp": otp.VerifySuccess} {
		if r := h.record(t, piaid, method, cardsExampleID); r == nil || r.Result != want {
			t.Errorf("%s's record: %+v, want result %s", method, r, want)
		}
	}
}

// TestSameMethodOtherPayload: on one method, a requestId names one payload;
// another payload under it is ErrIdempotency, and changes nothing.
func TestSameMethodOtherPayload(t *testing.T) {
	h := newHarness(t, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive})
	ctx := context.Background()

	send, err := h.svc.Send(ctx, legacySend(legacyExampleID, "send"))
	expect(t, "sendOtp", send, err, otp.SendSuccess)
	if out, err := h.svc.Send(ctx, legacySend(legacyExampleID, "another send")); !errors.Is(err, otp.ErrIdempotency) {
		t.Errorf("sendOtp reusing its requestId with another payload = %+v, %v; want ErrIdempotency", out, err)
	}
	if n := len(h.sms.sent()); n != 1 {
		t.Errorf("%d SMS, want 1: the conflicting sendOtp must send nothing", n)
	}

	code := h.sms.last(t).code
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	verify, err := h.svc.Verify(ctx, legacyVerify("verify-1", legacyExampleID, wrong))
	expect(t, "verifyOtp with a wrong code", verify, err, otp.VerifyNotMatched)
	if out, err := h.svc.Verify(ctx, legacyVerify("verify-1", legacyExampleID, code)); !errors.Is(err, otp.ErrIdempotency) {
		t.Errorf("verifyOtp reusing its requestId with another code = %+v, %v; want ErrIdempotency", out, err)
	}
	// The conflict consumed nothing: a new verifyOtp still finds the code live.
	out, err := h.svc.Verify(ctx, legacyVerify("verify-2", legacyExampleID, code))
	expect(t, "verifyOtp with the right code after the conflict", out, err, otp.VerifySuccess)

	if r := h.record(t, "", "sendOtp", legacyExampleID); r == nil || r.ReplyID != send.ReplyID {
		t.Errorf("sendOtp's record after the conflict: %+v, want the first answer %+v", r, send)
	}
}
