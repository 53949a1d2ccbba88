package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/sms"
)

// echoMessage is the clientMessage of the echo scenarios.
const echoMessage = "otpgate simulator ping"

// unknownCard is a card number no fixture has.
var unknownCard = FixtureCard{Number: cardNumber(999_999), ExpiryMonth: "12", ExpiryYear: "2049"}

func fitsOneSMS(text string) bool { return sms.Fits(text) }

// hdr is the requestHeader of a request body.
func hdr(body map[string]any) map[string]any { return body["requestHeader"].(map[string]any) }

// stamp sets a request's requestTimestamp to t in its dialect's form.
func stamp(body map[string]any, t time.Time) {
	h := hdr(body)
	if _, current := h["paymentIntegratorAccountId"]; current {
		h["requestTimestamp"] = map[string]any{"epochMillis": millis(t)}
	} else {
		h["requestTimestamp"] = millis(t)
	}
}

// single is a scenario of one request and its answer.
func single(name, spec, expect string, needs need, p string, body func(e *env) any) Scenario {
	return Scenario{Name: name, Spec: spec, Expect: expect, needs: needs, run: func(ctx context.Context, e *env) error {
		r, err := e.post(ctx, path.Base(p), p, body(e))
		if err != nil {
			return err
		}
		return e.verdict(path.Base(p), "", r, expect)
	}}
}

// names checks that an ErrorResponse says which identifier was wrong (SPEC §3).
func (e *env) names(r *Response, what string) error {
	if !strings.Contains(strings.ToLower(r.Str("errorDescription")), strings.ToLower(what)) {
		return e.fail(r.Summary(), "errorDescription %q does not name %s (SPEC §3)", r.Str("errorDescription"), what)
	}
	return nil
}

// unknownPhoneSend is a sendOtp that answers UNKNOWN_PHONE_NUMBER: it is
// stored for idempotency like any 200 and spends no budget.
func (e *env) unknownPhoneSend(id string) map[string]any {
	return e.c.SendOtpBody(id, Account{Phone: UnknownPhone})
}

func catalogue() []Scenario {
	var all []Scenario
	for _, part := range [][]Scenario{sendOtpScenarios(), verifyOtpScenarios(), echoScenarios(), headerScenarios(),
		bodyScenarios(), idempotencyScenarios(), cardScenarios(), envelopeScenarios()} {
		all = append(all, part...)
	}
	return all
}

func sendOtpScenarios() []Scenario {
	success := func(name, role string, account func(f Fixture) Account) Scenario {
		return Scenario{Name: name, Spec: "§6", Expect: "200 SUCCESS", run: func(ctx context.Context, e *env) error {
			return e.pool(e.fx.pool(role), func(f Fixture) error {
				_, _, err := e.sendOtp(ctx, "sendOtp", true, f, account(f), false)
				return err
			})
		}}
	}
	send := func(name, expect string, account func(fx *fixtureSet) Account) Scenario {
		return single(name, "§6", expect, 0, PathSendOtp, func(e *env) any {
			return e.c.SendOtpBody(e.id("send"), account(e.fx))
		})
	}
	return []Scenario{
		success("sendOtp/success-by-phone", roleSendPhone, func(f Fixture) Account { return Account{Phone: f.Phone} }),
		success("sendOtp/success-by-association", roleSendAssociation, func(f Fixture) Account {
			return Account{AssociationID: f.AssociationID()}
		}),
		success("sendOtp/success-by-both", roleSendBoth, func(f Fixture) Account {
			return Account{Phone: f.Phone, AssociationID: f.AssociationID()}
		}),
		send("sendOtp/invalid-phone-number", "200 INVALID_PHONE_NUMBER", func(fx *fixtureSet) Account {
			return Account{Phone: strings.TrimPrefix(fx.one(roleMismatchA).Phone, "+")}
		}),
		send("sendOtp/unknown-phone-number", "200 UNKNOWN_PHONE_NUMBER", func(*fixtureSet) Account {
			return Account{Phone: UnknownPhone}
		}),
		send("sendOtp/phone-not-associated", "200 PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT", func(fx *fixtureSet) Account {
			return Account{AssociationID: fx.one(roleMismatchA).AssociationID(), Phone: fx.one(roleMismatchB).Phone}
		}),
		{Name: "sendOtp/unknown-association", Spec: "§6, §3", Expect: "404 INVALID_IDENTIFIER",
			run: func(ctx context.Context, e *env) error {
				r, err := e.post(ctx, "sendOtp", PathSendOtp, e.c.SendOtpBody(e.id("send"),
					Account{AssociationID: "sim-as-unknown-" + e.c.Run()}))
				if err != nil {
					return err
				}
				if err := e.verdict("sendOtp", "", r, "404 INVALID_IDENTIFIER"); err != nil {
					return err
				}
				return e.names(r, "associationId")
			}},
		send("sendOtp/account-closed", "200 ACCOUNT_CLOSED", func(fx *fixtureSet) Account {
			return Account{AssociationID: fx.one(roleClosed).AssociationID()}
		}),
		send("sendOtp/account-closed-taken-over", "200 ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER", func(fx *fixtureSet) Account {
			return Account{AssociationID: fx.one(roleTakenOver).AssociationID()}
		}),
		send("sendOtp/account-closed-fraud", "200 ACCOUNT_CLOSED_FRAUD", func(fx *fixtureSet) Account {
			return Account{AssociationID: fx.one(roleFraud).AssociationID()}
		}),
		send("sendOtp/closed-account-by-phone", "200 NOT_ELIGIBLE", func(fx *fixtureSet) Account {
			return Account{Phone: fx.one(roleClosed).Phone}
		}),
		send("sendOtp/not-eligible", "200 NOT_ELIGIBLE", func(fx *fixtureSet) Account {
			return Account{AssociationID: fx.one(roleNotEligible).AssociationID()}
		}),
		{Name: "sendOtp/otp-limit-reached", Spec: "§6, §10", Expect: "200 OTP_LIMIT_REACHED; by phone 200 OTP_LIMIT_REACHED",
			run: func(ctx context.Context, e *env) error {
				// The account is limited already when an earlier run spent
				// its budget; otherwise spend it.
				f := e.fx.one(roleLimit)
				for successes := 0; ; successes++ {
					r, err := e.post(ctx, "sendOtp", PathSendOtp, e.c.SendOtpBody(e.id("limit"), Account{AssociationID: f.AssociationID()}))
					if err != nil {
						return err
					}
					if r.Status == 200 && r.Str("result") == "SUCCESS" {
						if successes == e.cfg.LimitProbe {
							return e.fail(fmt.Sprintf("%d× 200 SUCCESS", successes+1),
								"no OTP_LIMIT_REACHED after %d sends to one account: the target's --send-limit must allow fewer "+
									"than --limit-probe (%d) sends per window for this scenario", successes+1, e.cfg.LimitProbe)
						}
						continue
					}
					if err := e.verdict("sendOtp", "", r, "200 OTP_LIMIT_REACHED"); err != nil {
						return err
					}
					if successes > 0 {
						e.note("%d SUCCESS before the limit", successes)
					}
					break
				}
				r, err := e.post(ctx, "sendOtp by phone", PathSendOtp, e.c.SendOtpBody(e.id("limit"), Account{Phone: f.Phone}))
				if err != nil {
					return err
				}
				return e.verdict("sendOtp by phone", "by phone", r, "200 OTP_LIMIT_REACHED")
			}},
		{Name: "sendOtp/message-unable-to-be-sent", Spec: "§6", Expect: "200 MESSAGE_UNABLE_TO_BE_SENT",
			never: "needs the target's SMS provider to fail"},
	}
}

func verifyOtpScenarios() []Scenario {
	withCode := func(name, role, expect string, then func(ctx context.Context, e *env, f Fixture, s *sent) error) Scenario {
		return Scenario{Name: name, Spec: "§7", Expect: expect, needs: needCodes, run: func(ctx context.Context, e *env) error {
			return e.pool(e.fx.pool(role), func(f Fixture) error {
				s, _, err := e.sendOtp(ctx, "sendOtp", false, f, Account{AssociationID: f.AssociationID()}, true)
				if err != nil {
					return err
				}
				return then(ctx, e, f, s)
			})
		}}
	}
	verify := func(ctx context.Context, e *env, step, sendID, code string) (*Response, error) {
		return e.post(ctx, step, PathVerifyOtp, e.c.VerifyOtpBody(e.id("verify"), sendID, code))
	}
	return []Scenario{
		withCode("verifyOtp/success", roleVerifySuccess, "200 SUCCESS", func(ctx context.Context, e *env, _ Fixture, s *sent) error {
			r, err := verify(ctx, e, "verifyOtp", s.id, s.sms.Code)
			if err != nil {
				return err
			}
			return e.verdict("verifyOtp", "", r, "200 SUCCESS")
		}),
		withCode("verifyOtp/otp-not-matched", roleVerifyNotMatched, "200 OTP_NOT_MATCHED", func(ctx context.Context, e *env, _ Fixture, s *sent) error {
			r, err := verify(ctx, e, "verifyOtp", s.id, wrongCode(s.sms.Code))
			if err != nil {
				return err
			}
			return e.verdict("verifyOtp", "", r, "200 OTP_NOT_MATCHED")
		}),
		withCode("verifyOtp/otp-already-used", roleVerifyUsed, "200 OTP_ALREADY_USED", func(ctx context.Context, e *env, _ Fixture, s *sent) error {
			r, err := verify(ctx, e, "verifyOtp", s.id, s.sms.Code)
			if err != nil {
				return err
			}
			if err := e.expect("first verifyOtp", r, "200 SUCCESS"); err != nil {
				return err
			}
			if r, err = verify(ctx, e, "second verifyOtp", s.id, s.sms.Code); err != nil {
				return err
			}
			return e.verdict("second verifyOtp", "", r, "200 OTP_ALREADY_USED")
		}),
		withCode("verifyOtp/superseded-code", roleVerifySuperseded, "old code 200 OTP_NOT_MATCHED; new code 200 SUCCESS",
			func(ctx context.Context, e *env, f Fixture, old *sent) error {
				fresh, _, err := e.sendOtp(ctx, "second sendOtp", false, f, Account{Phone: f.Phone}, true)
				if err != nil {
					return err
				}
				r, err := verify(ctx, e, "verifyOtp of the first send", old.id, old.sms.Code)
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp of the first send", "old code", r, "200 OTP_NOT_MATCHED"); err != nil {
					return err
				}
				if r, err = verify(ctx, e, "verifyOtp of the second send", fresh.id, fresh.sms.Code); err != nil {
					return err
				}
				return e.verdict("verifyOtp of the second send", "new code", r, "200 SUCCESS")
			}),
		withCode("verifyOtp/attempts-spent", roleVerifyAttempts, "right code after the cap 200 OTP_NOT_MATCHED",
			func(ctx context.Context, e *env, _ Fixture, s *sent) error {
				for i := range e.cfg.MaxAttempts {
					r, err := verify(ctx, e, fmt.Sprintf("wrong guess %d", i+1), s.id, wrongCode(s.sms.Code))
					if err != nil {
						return err
					}
					if err := e.expect(fmt.Sprintf("wrong guess %d", i+1), r, "200 OTP_NOT_MATCHED"); err != nil {
						return err
					}
				}
				r, err := verify(ctx, e, "right code", s.id, s.sms.Code)
				if err != nil {
					return err
				}
				if err := e.verdict(fmt.Sprintf("right code after %d wrong guesses (--max-attempts %d)", e.cfg.MaxAttempts, e.cfg.MaxAttempts),
					"right code after the cap", r, "200 OTP_NOT_MATCHED"); err != nil {
					return err
				}
				return nil
			}),
		{Name: "verifyOtp/unknown-send-request-id", Spec: "§7, §3", Expect: "404 INVALID_IDENTIFIER",
			run: func(ctx context.Context, e *env) error {
				r, err := verify(ctx, e, "verifyOtp", e.id("never-sent"), "123456")
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp", "", r, "404 INVALID_IDENTIFIER"); err != nil {
					return err
				}
				return e.names(r, "sendOtpRequestId")
			}},
		{Name: "verifyOtp/send-not-successful", Spec: "§7", Expect: "404 INVALID_IDENTIFIER",
			run: func(ctx context.Context, e *env) error {
				id := e.id("send")
				r, err := e.post(ctx, "sendOtp", PathSendOtp, e.unknownPhoneSend(id))
				if err != nil {
					return err
				}
				if err := e.expect("sendOtp", r, "200 UNKNOWN_PHONE_NUMBER"); err != nil {
					return err
				}
				if r, err = verify(ctx, e, "verifyOtp", id, "123456"); err != nil {
					return err
				}
				return e.verdict("verifyOtp", "", r, "404 INVALID_IDENTIFIER")
			}},
		{Name: "verifyOtp/code-expired", Spec: "§7, §10", Expect: "200 OTP_NOT_MATCHED",
			never: "needs waiting out the code lifetime (--code-lifetime, 5 minutes by default)"},
	}
}

func echoScenarios() []Scenario {
	want := fmt.Sprintf("200 clientMessage=%q", echoMessage)
	return []Scenario{
		single("echo/v1", "§9", want, 0, PathEcho, func(e *env) any { return e.c.EchoBody(e.id("echo"), echoMessage) }),
		single("echo/v2", "§9", want, needPIAID, PathEchoV2, func(e *env) any { return e.c.EchoV2Body(e.id("echo"), echoMessage) }),
	}
}

func headerScenarios() []Scenario {
	legacy := func(name, expect string, edit func(e *env, body map[string]any)) Scenario {
		return single(name, "§2", expect, 0, PathSendOtp, func(e *env) any {
			body := e.unknownPhoneSend(e.id("hdr"))
			edit(e, body)
			return body
		})
	}
	echo := func(name, expect string, edit func(e *env, body map[string]any)) Scenario {
		return single(name, "§2, §1", expect, 0, PathEcho, func(e *env) any {
			body := e.c.EchoBody(e.id("hdr"), echoMessage)
			edit(e, body)
			return body
		})
	}
	echoV2 := func(name, expect string, needs need, edit func(e *env, body map[string]any)) Scenario {
		return single(name, "§2, §1", expect, needs, PathEchoV2, func(e *env) any {
			body := e.c.EchoV2Body(e.id("hdr"), echoMessage)
			edit(e, body)
			return body
		})
	}
	ok := fmt.Sprintf("200 clientMessage=%q", echoMessage)
	return []Scenario{
		legacy("header/legacy-wrong-major", "400 INVALID_API_VERSION", func(_ *env, b map[string]any) {
			hdr(b)["protocolVersion"] = map[string]any{"major": 2, "minor": 0, "revision": 0}
		}),
		single("header/cards-wrong-major", "§2, §1", "400 INVALID_API_VERSION", needPIAID, PathCardVerifyOtp, func(e *env) any {
			b := e.c.CardVerifyOtpBody(e.id("hdr"), e.id("auth"), "123456")
			hdr(b)["protocolVersion"] = map[string]any{"major": 2}
			return b
		}),
		echoV2("header/echo-v2-wrong-major", "400 INVALID_API_VERSION", needPIAID, func(_ *env, b map[string]any) {
			hdr(b)["protocolVersion"] = map[string]any{"major": 1}
		}),
		legacy("header/timestamp-too-old", "400 REQUEST_TIMESTAMP_OUT_OF_RANGE", func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(-e.cfg.Window-2*time.Second))
		}),
		legacy("header/timestamp-too-new", "400 REQUEST_TIMESTAMP_OUT_OF_RANGE", func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(e.cfg.Window+2*time.Second))
		}),
		echo("header/timestamp-inside-window", ok, func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(-e.cfg.Window+5*time.Second))
		}),
		echo("header/timestamp-as-number", ok, func(e *env, b map[string]any) {
			hdr(b)["requestTimestamp"] = e.c.Now().UnixMilli()
		}),
		echoV2("header/cards-timestamp-too-old", "400 REQUEST_TIMESTAMP_OUT_OF_RANGE", needPIAID, func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(-e.cfg.Window-2*time.Second))
		}),
		legacy("header/missing-request-id", "400 MISSING_REQUIRED_FIELD", func(_ *env, b map[string]any) {
			delete(hdr(b), "requestId")
		}),
		echo("header/request-id-100-chars", ok, func(_ *env, b map[string]any) {
			id := hdr(b)["requestId"].(string)
			hdr(b)["requestId"] = id + strings.Repeat("x", 100-len(id))
		}),
		legacy("header/request-id-101-chars", "400 INVALID_FIELD_VALUE", func(_ *env, b map[string]any) {
			id := hdr(b)["requestId"].(string)
			hdr(b)["requestId"] = id + strings.Repeat("x", 101-len(id))
		}),
		legacy("header/request-id-bad-characters", "400 INVALID_FIELD_VALUE", func(_ *env, b map[string]any) {
			hdr(b)["requestId"] = hdr(b)["requestId"].(string) + " /é"
		}),
		{Name: "header/unknown-piaid", Spec: "§2, §1", Expect: "404 INVALID_IDENTIFIER", run: func(ctx context.Context, e *env) error {
			b := e.c.EchoV2Body(e.id("hdr"), echoMessage)
			stranger := "SimulatorStranger_" + e.c.Run()
			hdr(b)["paymentIntegratorAccountId"] = stranger
			r, err := e.post(ctx, "echo", PathEchoV2, b)
			if err != nil {
				return err
			}
			if err := e.verdict("echo", "", r, "404 INVALID_IDENTIFIER"); err != nil {
				return err
			}
			return e.names(r, stranger)
		}},
		echoV2("header/missing-piaid", "400 MISSING_REQUIRED_FIELD", 0, func(_ *env, b map[string]any) {
			delete(hdr(b), "paymentIntegratorAccountId")
		}),
	}
}

func bodyScenarios() []Scenario {
	raw := func(name, expect string, body string) Scenario {
		return single(name, "§2", expect, 0, PathSendOtp, func(*env) any { return []byte(body) })
	}
	send := func(name, expect string, edit func(e *env, body map[string]any)) Scenario {
		return single(name, "§2, §6", expect, 0, PathSendOtp, func(e *env) any {
			body := e.unknownPhoneSend(e.id("body"))
			edit(e, body)
			return body
		})
	}
	return []Scenario{
		raw("body/malformed-json", "400 INVALID_DECRYPTED_REQUEST", `{"requestHeader": {`),
		raw("body/not-an-object", "400 INVALID_DECRYPTED_REQUEST", `[1, 2]`),
		send("body/wrong-type", "400 INVALID_DECRYPTED_REQUEST", func(_ *env, b map[string]any) { hdr(b)["requestId"] = 12 }),
		send("body/missing-field", "400 MISSING_REQUIRED_FIELD", func(_ *env, b map[string]any) { delete(b, "smsMatchingToken") }),
		send("body/missing-account", "400 MISSING_REQUIRED_FIELD", func(_ *env, b map[string]any) { delete(b, "accountPhoneNumber") }),
		send("body/invalid-field", "400 INVALID_FIELD_VALUE", func(_ *env, b map[string]any) { b["smsMatchingToken"] = "AB1234" }),
		send("body/oversize", "400", func(e *env, b map[string]any) {
			b["padding"] = strings.Repeat("x", int(e.cfg.MaxBodyBytes))
		}),
		send("body/unknown-fields-ignored", "200 UNKNOWN_PHONE_NUMBER", func(_ *env, b map[string]any) {
			hdr(b)["someFutureField"] = map[string]any{"x": 1}
			hdr(b)["userLocale"] = "en_IN"
			b["aFieldOfMinorVersion9"] = true
		}),
	}
}

func idempotencyScenarios() []Scenario {
	return []Scenario{
		{Name: "idempotency/replay-send-success", Spec: "§4", Expect: "200 SUCCESS; retry: same answer; 1 SMS",
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleReplaySend), func(f Fixture) error {
					s, first, err := e.sendOtp(ctx, "sendOtp", true, f, Account{AssociationID: f.AssociationID()}, false)
					if err != nil {
						return err
					}
					return e.replay(ctx, first, func() error {
						if e.codes == nil || !e.codes.Automatic() {
							e.note("the SMS count is not checked without --sms-file")
							return nil
						}
						n, _, err := e.codes.Count(f.Phone, s.mark)
						if err != nil {
							return e.fail("reading SMS", "%v", err)
						}
						if n != 1 {
							return e.fail(fmt.Sprintf("%d SMS", n), "%d SMS after a sendOtp and its retry, want 1 (SPEC §4: no second effect)", n)
						}
						e.gots = append(e.gots, "1 SMS")
						return nil
					})
				})
			}},
		{Name: "idempotency/replay-verify-success", Spec: "§4, §7", Expect: "200 SUCCESS; retry: same answer",
			needs: needCodes, run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleReplayVerify), func(f Fixture) error {
					s, _, err := e.sendOtp(ctx, "sendOtp", false, f, Account{AssociationID: f.AssociationID()}, true)
					if err != nil {
						return err
					}
					r, err := e.post(ctx, "verifyOtp", PathVerifyOtp, e.c.VerifyOtpBody(e.id("verify"), s.id, s.sms.Code))
					if err != nil {
						return err
					}
					if err := e.verdict("verifyOtp", "", r, "200 SUCCESS"); err != nil {
						return err
					}
					return e.replay(ctx, r, nil)
				})
			}},
		{Name: "idempotency/changed-payload", Spec: "§4", Expect: "412 IDEMPOTENCY_VIOLATION", run: func(ctx context.Context, e *env) error {
			id := e.id("send")
			r, err := e.post(ctx, "sendOtp", PathSendOtp, e.unknownPhoneSend(id))
			if err != nil {
				return err
			}
			if err := e.expect("sendOtp", r, "200 UNKNOWN_PHONE_NUMBER"); err != nil {
				return err
			}
			changed := e.unknownPhoneSend(id) // another smsMatchingToken
			if r, err = e.post(ctx, "sendOtp with another payload", PathSendOtp, changed); err != nil {
				return err
			}
			return e.verdict("sendOtp with another payload", "", r, "412 IDEMPOTENCY_VIOLATION")
		}},
		{Name: "idempotency/other-method", Spec: "§4", Expect: "412 IDEMPOTENCY_VIOLATION", run: func(ctx context.Context, e *env) error {
			id := e.id("send")
			r, err := e.post(ctx, "sendOtp", PathSendOtp, e.unknownPhoneSend(id))
			if err != nil {
				return err
			}
			if err := e.expect("sendOtp", r, "200 UNKNOWN_PHONE_NUMBER"); err != nil {
				return err
			}
			if r, err = e.post(ctx, "verifyOtp", PathVerifyOtp, e.c.VerifyOtpBody(id, id, "123456")); err != nil {
				return err
			}
			return e.verdict("verifyOtp under the sendOtp's requestId", "", r, "412 IDEMPOTENCY_VIOLATION")
		}},
		{Name: "idempotency/retry-after-error", Spec: "§4", Expect: "400 REQUEST_TIMESTAMP_OUT_OF_RANGE; retry 200 UNKNOWN_PHONE_NUMBER",
			run: func(ctx context.Context, e *env) error {
				body := e.unknownPhoneSend(e.id("send"))
				stamp(body, e.c.Now().Add(-e.cfg.Window-time.Minute))
				r, err := e.post(ctx, "sendOtp", PathSendOtp, body)
				if err != nil {
					return err
				}
				if err := e.verdict("sendOtp", "", r, "400 REQUEST_TIMESTAMP_OUT_OF_RANGE"); err != nil {
					return err
				}
				stamp(body, e.c.Now())
				if r, err = e.post(ctx, "retry", PathSendOtp, body); err != nil {
					return err
				}
				return e.verdict("retry", "retry", r, "200 UNKNOWN_PHONE_NUMBER")
			}},
		{Name: "idempotency/concurrent-duplicates", Spec: "§4", Expect: "5 copies at once: 200 SUCCESS, one answer; 1 SMS",
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleDuplicates), func(f Fixture) error { return e.duplicates(ctx, f, 5) })
			}},
		{Name: "idempotency/retry-after-503", Spec: "§4", Expect: "503, then the retry processed afresh",
			never: "needs an outage of the target's database or a failing SMS provider"},
	}
}

// replay retries the request of first with a new requestTimestamp, as
// Google does, and wants the same answer except responseTimestamp (SPEC §4).
// more runs further checks after it.
func (e *env) replay(ctx context.Context, first *Response, more func() error) error {
	time.Sleep(2 * time.Millisecond) // a visibly new requestTimestamp
	var body map[string]any
	if err := json.Unmarshal(first.Request, &body); err != nil {
		return e.fail("internal", "re-reading the request: %v", err)
	}
	stamp(body, e.c.Now())
	again, err := e.post(ctx, "retry", first.Path, body)
	if err != nil {
		return err
	}
	if err := e.expect("retry", again, first.Summary()); err != nil {
		return err
	}
	if diff := SameAnswer(first, again); diff != "" {
		return e.fail("retry: another answer", "the retry got another answer (SPEC §4: the same, but responseTimestamp): %s", diff)
	}
	e.gots = append(e.gots, "retry: same answer")
	if more != nil {
		return more()
	}
	return nil
}

// duplicates sends n copies of one sendOtp at once: each gets the same
// SUCCESS (or a 503 after waiting for the first, SPEC §4) and one SMS goes
// out.
func (e *env) duplicates(ctx context.Context, f Fixture, n int) error {
	var mark Mark
	if e.codes != nil && e.codes.Automatic() {
		m, err := e.codes.Mark(f.Phone)
		if err != nil {
			return e.fail("reading SMS", "%v", err)
		}
		mark = m
	}
	body := e.c.SendOtpBody(e.id("dup"), Account{AssociationID: f.AssociationID()})
	plaintext, err := json.Marshal(body)
	if err != nil {
		return err
	}
	rs := make([]*Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			rs[i], errs[i] = e.c.Post(ctx, PathSendOtp, plaintext)
		})
	}
	close(start)
	wg.Wait()
	var ids []string
	unavailable := 0
	for i, r := range rs {
		if errs[i] != nil {
			return e.fail("no answer", "copy %d: %v", i+1, errs[i])
		}
		if r.Status == 200 && r.Str("result") == "OTP_LIMIT_REACHED" {
			return errSpent
		}
		if r.Status == 503 {
			unavailable++
			continue
		}
		if err := e.expect(fmt.Sprintf("copy %d", i+1), r, "200 SUCCESS"); err != nil {
			return err
		}
		if id := r.Str("paymentIntegratorSendOtpId"); len(ids) == 0 || ids[0] != id {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		return e.fail(fmt.Sprintf("%d× 503", unavailable), "every copy got a 503: none was processed")
	case len(ids) > 1:
		return e.fail(fmt.Sprintf("%d different paymentIntegratorSendOtpIds", len(ids)),
			"copies of one request got different answers: %s (SPEC §4: never two effects)", strings.Join(ids, ", "))
	}
	got := fmt.Sprintf("%d copies at once: 200 SUCCESS, one answer", n)
	if unavailable > 0 {
		e.note("%d copies got a 503 after waiting for the first (allowed)", unavailable)
	}
	e.gots = append(e.gots, got)
	if e.codes == nil || !e.codes.Automatic() {
		e.note("the SMS count is not checked without --sms-file")
		return nil
	}
	count, _, err := e.codes.Count(f.Phone, mark)
	if err != nil {
		return e.fail("reading SMS", "%v", err)
	}
	if count != 1 {
		return e.fail(fmt.Sprintf("%d SMS", count), "%d copies of one sendOtp sent %d SMS, want 1 (SPEC §4)", n, count)
	}
	e.gots = append(e.gots, "1 SMS")
	return nil
}

func cardScenarios() []Scenario {
	authenticate := func(name, expect string, card func(fx *fixtureSet) FixtureCard, edit func(body map[string]any)) Scenario {
		return single(name, "§8", expect, needPIAID, PathAuthenticate, func(e *env) any {
			c := card(e.fx)
			e.secret(c.Number)
			body := e.c.AuthenticateBody(e.id("auth"), c)
			if edit != nil {
				edit(body)
			}
			return body
		})
	}
	withSession := func(name, role, expect string, then func(ctx context.Context, e *env, f Fixture, s *sent) error) Scenario {
		return Scenario{Name: name, Spec: "§8", Expect: expect, needs: needPIAID | needCodes, run: func(ctx context.Context, e *env) error {
			return e.pool(e.fx.pool(role), func(f Fixture) error {
				s, _, err := e.authenticate(ctx, "authenticate", false, f, true)
				if err != nil {
					return err
				}
				return then(ctx, e, f, s)
			})
		}}
	}
	verify := func(ctx context.Context, e *env, step, authID, code string) (*Response, error) {
		return e.post(ctx, step, PathCardVerifyOtp, e.c.CardVerifyOtpBody(e.id("verify"), authID, code))
	}
	resend := func(ctx context.Context, e *env, step, authID string) (*Response, error) {
		return e.post(ctx, step, PathResendOtp, e.c.ResendOtpBody(e.id("resend"), authID))
	}
	notFound := "200 native:unsupported(CARD_NOT_FOUND)"
	return []Scenario{
		{Name: "cards/authenticate-otp-sent", Spec: "§8", Expect: "200 native:otpSent", needs: needPIAID,
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleCardOtpSent), func(f Fixture) error {
					_, _, err := e.authenticate(ctx, "authenticate", true, f, false)
					return err
				})
			}},
		authenticate("cards/authenticate-unknown-card", notFound, func(*fixtureSet) FixtureCard { return unknownCard }, nil),
		authenticate("cards/authenticate-wrong-expiry", notFound, func(fx *fixtureSet) FixtureCard {
			c := fx.pool(roleCardOtpSent)[0].Card()
			c.ExpiryMonth = "11"
			return c
		}, nil),
		authenticate("cards/authenticate-expired-card", "200 native:unsupported(CARD_EXPIRED)",
			func(fx *fixtureSet) FixtureCard { return fx.one(roleCardExpired).Card() }, nil),
		authenticate("cards/authenticate-account-closed", "200 native:unsupported(ACCOUNT_CLOSED)",
			func(fx *fixtureSet) FixtureCard { return fx.one(roleClosed).Card() }, nil),
		authenticate("cards/authenticate-not-eligible", "200 native:unsupported(ACCOUNT_NOT_ELIGIBLE)",
			func(fx *fixtureSet) FixtureCard { return fx.one(roleNotEligible).Card() }, nil),
		authenticate("cards/authenticate-redirect-only", "200 native:notRequested redirect:unsupported(REDIRECT_NOT_SUPPORTED)",
			func(fx *fixtureSet) FixtureCard { return fx.pool(roleCardOtpSent)[0].Card() }, func(b map[string]any) {
				b["requestedAuthenticationTypes"] = map[string]any{"redirectUrl": map[string]any{"callbackUrl": "https://example.google.com/return/"}}
			}),
		withSession("cards/verify-success", roleCardSuccess, "200 result.success", func(ctx context.Context, e *env, _ Fixture, s *sent) error {
			r, err := verify(ctx, e, "verifyOtp", s.id, s.sms.Code)
			if err != nil {
				return err
			}
			return e.verdict("verifyOtp", "", r, "200 result.success")
		}),
		withSession("cards/verify-otp-not-matched", roleCardNotMatched, "200 result.otpNotMatched", func(ctx context.Context, e *env, _ Fixture, s *sent) error {
			r, err := verify(ctx, e, "verifyOtp", s.id, wrongCode(s.sms.Code))
			if err != nil {
				return err
			}
			return e.verdict("verifyOtp", "", r, "200 result.otpNotMatched")
		}),
		withSession("cards/verify-otp-already-used", roleCardUsed, "200 result.otpAlreadyUsed", func(ctx context.Context, e *env, _ Fixture, s *sent) error {
			r, err := verify(ctx, e, "first verifyOtp", s.id, s.sms.Code)
			if err != nil {
				return err
			}
			if err := e.expect("first verifyOtp", r, "200 result.success"); err != nil {
				return err
			}
			if r, err = verify(ctx, e, "second verifyOtp", s.id, s.sms.Code); err != nil {
				return err
			}
			return e.verdict("second verifyOtp", "", r, "200 result.otpAlreadyUsed")
		}),
		{Name: "cards/verify-unknown-authentication", Spec: "§8, §3", Expect: "404 INVALID_IDENTIFIER", needs: needPIAID,
			run: func(ctx context.Context, e *env) error {
				r, err := verify(ctx, e, "verifyOtp", e.id("never-authenticated"), "123456")
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp", "", r, "404 INVALID_IDENTIFIER"); err != nil {
					return err
				}
				return e.names(r, "authenticateRequestId")
			}},
		withSession("cards/resend-success", roleCardResend, "200 result.success; old code 200 result.otpNotMatched; new code 200 result.success",
			func(ctx context.Context, e *env, f Fixture, s *sent) error {
				mark := s.sms.Seq
				r, err := resend(ctx, e, "resendOtp", s.id)
				if err != nil {
					return err
				}
				if r.Status == 200 && r.Result() == "otpRequestLimitReached" {
					return errSpent // the account's send budget, shared with resends
				}
				if err := e.verdict("resendOtp", "", r, "200 result.success"); err != nil {
					return err
				}
				fresh, err := e.codes.Wait(ctx, f.Phone, mark)
				if err != nil {
					return e.fail("resendOtp: no SMS", "resendOtp answered success but: %v", err)
				}
				e.secret(fresh.Code)
				if fresh.Code != s.sms.Code {
					if r, err = verify(ctx, e, "verifyOtp with the first code", s.id, s.sms.Code); err != nil {
						return err
					}
					if err := e.verdict("verifyOtp with the first code", "old code", r, "200 result.otpNotMatched"); err != nil {
						return err
					}
				} else {
					e.note("the resent code happens to equal the first: its retirement is not checked")
				}
				if r, err = verify(ctx, e, "verifyOtp with the new code", s.id, fresh.Code); err != nil {
					return err
				}
				return e.verdict("verifyOtp with the new code", "new code", r, "200 result.success")
			}),
		{Name: "cards/resend-limit", Spec: "§8, §10", Expect: "200 result.otpRequestLimitReached; again 200 result.otpRequestLimitReached",
			needs: needPIAID, run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleCardResendLimit), func(f Fixture) error {
					s, _, err := e.authenticate(ctx, "authenticate", false, f, false)
					if err != nil {
						return err
					}
					for successes := 0; ; successes++ {
						r, err := resend(ctx, e, "resendOtp", s.id)
						if err != nil {
							return err
						}
						if r.Status == 200 && r.Result() == "success" {
							if successes == e.cfg.ResendProbe {
								return e.fail(fmt.Sprintf("%d× 200 result.success", successes+1),
									"no otpRequestLimitReached after %d resends: is the target's --max-resends above --resend-probe (%d)?",
									successes+1, e.cfg.ResendProbe)
							}
							continue
						}
						if err := e.verdict("resendOtp", "", r, "200 result.otpRequestLimitReached"); err != nil {
							return err
						}
						e.note("%d resends succeeded before the limit", successes)
						break
					}
					r, err := resend(ctx, e, "resendOtp again", s.id)
					if err != nil {
						return err
					}
					return e.verdict("resendOtp again", "again", r, "200 result.otpRequestLimitReached")
				})
			}},
		withSession("cards/resend-after-success", roleCardResendAfter, "200 result.requestExpired",
			func(ctx context.Context, e *env, _ Fixture, s *sent) error {
				r, err := verify(ctx, e, "verifyOtp", s.id, s.sms.Code)
				if err != nil {
					return err
				}
				if err := e.expect("verifyOtp", r, "200 result.success"); err != nil {
					return err
				}
				if r, err = resend(ctx, e, "resendOtp", s.id); err != nil {
					return err
				}
				return e.verdict("resendOtp", "", r, "200 result.requestExpired")
			}),
		{Name: "cards/resend-unknown-authentication", Spec: "§8, §3", Expect: "404 INVALID_IDENTIFIER", needs: needPIAID,
			run: func(ctx context.Context, e *env) error {
				r, err := resend(ctx, e, "resendOtp", e.id("never-authenticated"))
				if err != nil {
					return err
				}
				if err := e.verdict("resendOtp", "", r, "404 INVALID_IDENTIFIER"); err != nil {
					return err
				}
				return e.names(r, "authenticateRequestId")
			}},
		{Name: "cards/replay", Spec: "§4, §8", Expect: notFound + "; retry: same answer", needs: needPIAID,
			run: func(ctx context.Context, e *env) error {
				e.secret(unknownCard.Number)
				r, err := e.post(ctx, "authenticate", PathAuthenticate, e.c.AuthenticateBody(e.id("auth"), unknownCard))
				if err != nil {
					return err
				}
				if err := e.verdict("authenticate", "", r, notFound); err != nil {
					return err
				}
				return e.replay(ctx, r, nil)
			}},
		{Name: "cards/changed-payload", Spec: "§4, §8", Expect: "412 IDEMPOTENCY_VIOLATION", needs: needPIAID,
			run: func(ctx context.Context, e *env) error {
				e.secret(unknownCard.Number)
				id := e.id("auth")
				body := e.c.AuthenticateBody(id, unknownCard)
				r, err := e.post(ctx, "authenticate", PathAuthenticate, body)
				if err != nil {
					return err
				}
				if err := e.expect("authenticate", r, notFound); err != nil {
					return err
				}
				body["amount"] = map[string]any{"amountMicros": "1000000", "currencyCode": "INR"}
				stamp(body, e.c.Now())
				if r, err = e.post(ctx, "authenticate with another amount", PathAuthenticate, body); err != nil {
					return err
				}
				return e.verdict("authenticate with another amount", "", r, "412 IDEMPOTENCY_VIOLATION")
			}},
	}
}

func envelopeScenarios() []Scenario {
	return []Scenario{
		{Name: "envelope/not-an-envelope", Spec: "§2, §5", Expect: "400 INVALID_PAYLOAD_ENCRYPTION", needs: needProtected,
			run: func(ctx context.Context, e *env) error {
				r, err := e.c.PostSealed(ctx, PathEcho, []byte("this is not a protected body"), e.c.Codec().ContentType())
				if err != nil {
					return e.fail("no answer", "echo: %v", err)
				}
				return e.verdict("echo", "", r, "400 INVALID_PAYLOAD_ENCRYPTION")
			}},
		{Name: "envelope/bad-signature", Spec: "§2, §3, §5", Expect: "401 (empty body); then, same requestId 200 UNKNOWN_PHONE_NUMBER",
			needs: needProtected | needImpostor, run: func(ctx context.Context, e *env) error {
				id := e.id("send")
				r, err := e.c.PostWith(ctx, e.cfg.Impostor, PathSendOtp, e.unknownPhoneSend(id))
				if err != nil {
					return e.fail("no answer", "sendOtp signed by a stranger: %v", err)
				}
				if err := e.verdict("sendOtp signed by a stranger", "", r, "401 (empty body)"); err != nil {
					return err
				}
				// Nothing may have been stored: the requestId is still new,
				// so another payload under it is no IDEMPOTENCY_VIOLATION.
				if r, err = e.post(ctx, "sendOtp, signed by Google, same requestId", PathSendOtp, e.unknownPhoneSend(id)); err != nil {
					return err
				}
				return e.verdict("sendOtp, signed by Google, same requestId", "then, same requestId", r, "200 UNKNOWN_PHONE_NUMBER")
			}},
		{Name: "envelope/wrong-encryption-key", Spec: "§2, §5", Expect: "400 INVALID_PAYLOAD_ENCRYPTION",
			needs: needProtected | needMisdirected, run: func(ctx context.Context, e *env) error {
				r, err := e.c.PostWith(ctx, e.cfg.Misdirected, PathEcho, e.c.EchoBody(e.id("echo"), echoMessage))
				if err != nil {
					return e.fail("no answer", "echo encrypted to a stranger: %v", err)
				}
				return e.verdict("echo encrypted to a stranger", "", r, "400 INVALID_PAYLOAD_ENCRYPTION")
			}},
	}
}
