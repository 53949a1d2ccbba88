package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/sms"
)

// The catalogue is generated from the surface table (surfaces.go): every
// group below is a function of one surface that returns the scenarios of
// its dialect, so that the legacy scenarios run on each legacy surface the
// target serves, and a scenario both dialects share (verifyOtp, a changed
// payload, a wrong major, strict JSON) is written once.

// echoMessage is the clientMessage of the echo scenarios.
const echoMessage = "otpgate simulator ping"

// unknownCard and unknownToken are a card and a payment token no fixture
// has; otherUnknownCard is a second such card.
var (
	unknownCard      = FixtureCard{Number: cardNumber(999_999), ExpiryMonth: "12", ExpiryYear: "2049"}
	otherUnknownCard = FixtureCard{Number: cardNumber(999_998), ExpiryMonth: "12", ExpiryYear: "2049"}
	unknownToken     = FixtureCard{Number: tokenNumber(999_999), ExpiryMonth: "12", ExpiryYear: "2049"}
)

// notSupported is authenticate's answer when it cannot text a code, for
// whatever reason: otpgate's own reason goes to its log, never to Google
// (SPEC §8), so the simulator cannot tell an unknown card from an expired
// one, only that no SMS went out.
const notSupported = "200 nativeOtpNotSupported"

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

// single is a scenario of one request to method of sf and its answer.
func single(sf Surface, name, spec, expect string, needs need, method string, body func(e *env) any) Scenario {
	p := sf.Path(method)
	return Scenario{Name: name, Spec: spec, Expect: expect, needs: needs, run: func(ctx context.Context, e *env) error {
		r, err := e.post(ctx, method, p, body(e))
		if err != nil {
			return err
		}
		return e.verdict(method, "", r, expect)
	}}
}

// needs is what every scenario of the surface needs (catalogue adds it): a
// PIAID the target serves for the current dialect.
func (s Surface) needs() need {
	if s.Dialect == Current {
		return needPIAID
	}
	return 0
}

// challengeMethod is the method that texts a code on the surface.
func (s Surface) challengeMethod() string {
	if s.Dialect == Current {
		return methodAuthenticate
	}
	return methodSendOtp
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

// harmless is a request of sf's dialect that answers 200 without texting
// anyone or spending a budget, and that answer: a sendOtp to UnknownPhone,
// or an authenticate of unknownCard.
func (e *env) harmless(sf Surface, id string) (method string, body map[string]any, want string) {
	if sf.Dialect == Current {
		e.secret(unknownCard.Number)
		return methodAuthenticate, e.c.AuthenticateBody(id, unknownCard), notSupported
	}
	return methodSendOtp, e.unknownPhoneSend(id), "200 UNKNOWN_PHONE_NUMBER"
}

// verifyBody is a verifyOtp of sf's dialect for the code of the challenge
// (sendOtp or authenticate) whose requestId is challengeID.
func (e *env) verifyBody(sf Surface, id, challengeID, code string) map[string]any {
	if sf.Dialect == Current {
		return e.c.CardVerifyOtpBody(id, challengeID, code)
	}
	return e.c.VerifyOtpBody(id, challengeID, code)
}

// challengeIDField is the member of a verifyOtp that names its challenge.
func (s Surface) challengeIDField() string {
	if s.Dialect == Current {
		return "authenticateRequestId"
	}
	return "sendOtpRequestId"
}

// catalogue is every scenario: each group on each surface, in the order of
// the surface table, then those of no surface.
func catalogue() []Scenario {
	var all []Scenario
	groups := []func(Surface) []Scenario{challengeScenarios, verifyScenarios, resendScenarios, echoScenarios,
		headerScenarios, bodyScenarios, idempotencyScenarios}
	for _, sf := range surfaceTable {
		for _, group := range groups {
			for _, sc := range group(sf) {
				if sc.Name == "" {
					continue // a scenario with no version in this dialect
				}
				sc.surface = sf.Name
				if !sc.ownPIAID {
					sc.needs |= sf.needs()
				}
				all = append(all, sc)
			}
		}
	}
	all = append(all, envelopeScenarios()...)
	return append(all, surfaceOffScenarios()...)
}

// challengeScenarios are those of the method that texts a code.
func challengeScenarios(sf Surface) []Scenario {
	if sf.Dialect == Current {
		return authenticateScenarios(sf)
	}
	return sendOtpScenarios(sf)
}

func sendOtpScenarios(sf Surface) []Scenario {
	name := func(n string) string { return sf.label + n }
	path := sf.Path(methodSendOtp)
	success := func(n, role string, account func(f Fixture) Account) Scenario {
		return Scenario{Name: name(n), Spec: "§6", Expect: "200 SUCCESS", run: func(ctx context.Context, e *env) error {
			return e.pool(e.fx.pool(sf.role(role)), func(f Fixture) error {
				_, _, err := e.sendOtp(ctx, sf, "sendOtp", true, f, account(f), false)
				return err
			})
		}}
	}
	send := func(n, expect string, account func(fx *fixtureSet) Account) Scenario {
		return single(sf, name(n), "§6", expect, 0, methodSendOtp, func(e *env) any {
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
		{Name: name("sendOtp/unknown-association"), Spec: "§6, §3", Expect: "404 INVALID_IDENTIFIER",
			run: func(ctx context.Context, e *env) error {
				r, err := e.post(ctx, "sendOtp", path, e.c.SendOtpBody(e.id("send"),
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
		{Name: name("sendOtp/otp-limit-reached"), Spec: "§6, §10", Expect: "200 OTP_LIMIT_REACHED; by phone 200 OTP_LIMIT_REACHED",
			run: func(ctx context.Context, e *env) error {
				// The account is limited already when an earlier run, or
				// this run on another surface, spent its budget (budgets
				// are the account's, whatever the surface); otherwise spend
				// it.
				f := e.fx.one(roleLimit)
				for successes := 0; ; successes++ {
					r, err := e.post(ctx, "sendOtp", path, e.c.SendOtpBody(e.id("limit"), Account{AssociationID: f.AssociationID()}))
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
				r, err := e.post(ctx, "sendOtp by phone", path, e.c.SendOtpBody(e.id("limit"), Account{Phone: f.Phone}))
				if err != nil {
					return err
				}
				return e.verdict("sendOtp by phone", "by phone", r, "200 OTP_LIMIT_REACHED")
			}},
		{Name: name("sendOtp/message-unable-to-be-sent"), Spec: "§6", Expect: "200 MESSAGE_UNABLE_TO_BE_SENT",
			never: "needs the target's SMS provider to fail"},
	}
}

// authenticateScenarios are India Cards' authenticate (SPEC §8). Every
// "cannot send" answers nativeOtpNotSupported; the scenarios of each cause
// are kept apart all the same: each proves that its cause texts nobody and
// that the answer leaks neither the card nor the phone.
func authenticateScenarios(sf Surface) []Scenario {
	path := sf.Path(methodAuthenticate)
	// refused sends the authenticate that body makes and wants want. When
	// account names a fixture account (the request is for its card or
	// token), its phone must get no SMS, and the Got column says so.
	refused := func(name, want string, account func(fx *fixtureSet) *Fixture, body func(e *env, f *Fixture) map[string]any) Scenario {
		expect := want
		if account(fixtures()) != nil {
			expect += "; no SMS"
		}
		return Scenario{Name: name, Spec: "§8", Expect: expect, run: func(ctx context.Context, e *env) error {
			f := account(e.fx)
			b := body(e, f)
			return e.noSMS(f, func() error {
				r, err := e.post(ctx, "authenticate", path, b)
				if err != nil {
					return err
				}
				return e.verdict("authenticate", "", r, want)
			})
		}}
	}
	none := func(*fixtureSet) *Fixture { return nil }
	one := func(role string) func(fx *fixtureSet) *Fixture {
		return func(fx *fixtureSet) *Fixture { f := fx.one(role); return &f }
	}
	// firstSent is the first account of the otp-sent pool: a refused
	// variant of the request that texts it must text nobody.
	firstSent := func(fx *fixtureSet) *Fixture { f := fx.pool(roleCardOtpSent)[0]; return &f }
	// card is an authenticate of f's card (unknownCard without f), edited.
	card := func(edit func(map[string]any)) func(e *env, f *Fixture) map[string]any {
		return func(e *env, f *Fixture) map[string]any {
			c := unknownCard
			if f != nil {
				c = f.Card()
			}
			e.secret(c.Number)
			e.secret(unknownToken.Number) // in case edit adds it
			body := e.c.AuthenticateBody(e.id("auth"), c)
			if edit != nil {
				edit(body)
			}
			return body
		}
	}
	// token is an authenticate of f's payment token (unknownToken without f).
	token := func(e *env, f *Fixture) map[string]any {
		t, last := unknownToken, "1112"
		if f != nil {
			t, last = f.Token(), last4(f.Card().Number)
		}
		e.secret(t.Number)
		return e.c.AuthenticateTokenBody(e.id("auth"), t, last)
	}
	return []Scenario{
		{Name: "cards/authenticate-otp-sent", Spec: "§8", Expect: "200 nativeOtpSupport",
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleCardOtpSent), func(f Fixture) error {
					_, _, err := e.authenticate(ctx, sf, "authenticate", true, f, byCard, false)
					return err
				})
			}},
		refused("cards/authenticate-unknown-card", notSupported, none, card(nil)),
		refused("cards/authenticate-wrong-expiry", notSupported, firstSent, card(func(b map[string]any) {
			b["accountDetails"].(map[string]any)["card"].(map[string]any)["expiryMonth"] = "11"
		})),
		refused("cards/authenticate-expired-card", notSupported, one(roleCardExpired), card(nil)),
		refused("cards/authenticate-account-closed", notSupported, one(roleClosed), card(nil)),
		refused("cards/authenticate-not-eligible", notSupported, one(roleNotEligible), card(nil)),
		refused("cards/authenticate-redirect-only", "200 nativeOtpNotRequested redirectUrlNotSupported", firstSent,
			card(func(b map[string]any) {
				b["requestedAuthenticationTypes"] = map[string]any{"redirectUrl": map[string]any{"callbackUrl": "https://example.google.com/return/"}}
			})),
		{Name: "cards/authenticate-token-otp-sent", Spec: "§8", Expect: "200 nativeOtpSupport; verifyOtp 200 result.success",
			needs: needCodes, run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleCardToken), func(f Fixture) error {
					s, _, err := e.authenticate(ctx, sf, "authenticate with the token", true, f, byToken, true)
					if err != nil {
						return err
					}
					r, err := e.post(ctx, "verifyOtp", sf.Path(methodVerifyOtp), e.c.CardVerifyOtpBody(e.id("verify"), s.id, s.sms.Code))
					if err != nil {
						return err
					}
					return e.verdict("verifyOtp", "verifyOtp", r, "200 result.success")
				})
			}},
		refused("cards/authenticate-unknown-token", notSupported, none, token),
		refused("cards/authenticate-expired-token", notSupported, one(roleCardExpired), token),
		// accountDetails is a one-of: a card or a payment token, never
		// both. They are unknown ones, so that a server taking either
		// texts nobody.
		refused("cards/authenticate-card-and-token", "400", none, card(func(b map[string]any) {
			b["accountDetails"].(map[string]any)["paymentToken"] = paymentToken(unknownToken, "1112")
		})),
		refused("cards/authenticate-no-account-details", "400 MISSING_REQUIRED_FIELD", none, card(func(b map[string]any) {
			b["accountDetails"] = map[string]any{}
		})),
	}
}

// last4 is the last four digits of a card number.
func last4(number string) string { return number[max(0, len(number)-4):] }

// verifyScenarios are verifyOtp's, one table for both dialects: each row
// names its scenario in each dialect ("" where the dialect has none) and
// plays on a code texted by the surface's own challenge method.
func verifyScenarios(sf Surface) []Scenario {
	path := sf.Path(methodVerifyOtp)
	verify := func(ctx context.Context, e *env, step, challengeID, code string) (*Response, error) {
		return e.post(ctx, step, path, e.verifyBody(sf, e.id("verify"), challengeID, code))
	}
	first := sf.challengeMethod()
	withCode := func(legacy, current, role, expect string, then func(ctx context.Context, e *env, f Fixture, s *sent) error) Scenario {
		return Scenario{Name: sf.name(legacy, current), Spec: sf.spec("§7", "§8"), Expect: expect, needs: needCodes,
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(sf.role(role)), func(f Fixture) error {
					s, _, err := e.challenge(ctx, sf, first, f)
					if err != nil {
						return err
					}
					return then(ctx, e, f, s)
				})
			}}
	}
	success, notMatched, used := sf.outcome("success"), sf.outcome("otpNotMatched"), sf.outcome("otpAlreadyUsed")
	return []Scenario{
		withCode("verifyOtp/success", "cards/verify-success", roleVerifySuccess, success,
			func(ctx context.Context, e *env, _ Fixture, s *sent) error {
				r, err := verify(ctx, e, "verifyOtp", s.id, s.sms.Code)
				if err != nil {
					return err
				}
				return e.verdict("verifyOtp", "", r, success)
			}),
		withCode("verifyOtp/otp-not-matched", "cards/verify-otp-not-matched", roleVerifyNotMatched, notMatched,
			func(ctx context.Context, e *env, _ Fixture, s *sent) error {
				r, err := verify(ctx, e, "verifyOtp", s.id, wrongCode(s.sms.Code))
				if err != nil {
					return err
				}
				return e.verdict("verifyOtp", "", r, notMatched)
			}),
		withCode("verifyOtp/otp-already-used", "cards/verify-otp-already-used", roleVerifyUsed, used,
			func(ctx context.Context, e *env, _ Fixture, s *sent) error {
				r, err := verify(ctx, e, "first verifyOtp", s.id, s.sms.Code)
				if err != nil {
					return err
				}
				if err := e.expect("first verifyOtp", r, success); err != nil {
					return err
				}
				if r, err = verify(ctx, e, "second verifyOtp", s.id, s.sms.Code); err != nil {
					return err
				}
				return e.verdict("second verifyOtp", "", r, used)
			}),
		withCode("verifyOtp/superseded-code", "", roleVerifySuperseded, "old code "+notMatched+"; new code "+success,
			func(ctx context.Context, e *env, f Fixture, old *sent) error {
				fresh, _, err := e.sendOtp(ctx, sf, "second sendOtp", false, f, Account{Phone: f.Phone}, true)
				if err != nil {
					return err
				}
				r, err := verify(ctx, e, "verifyOtp of the first send", old.id, old.sms.Code)
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp of the first send", "old code", r, notMatched); err != nil {
					return err
				}
				if r, err = verify(ctx, e, "verifyOtp of the second send", fresh.id, fresh.sms.Code); err != nil {
					return err
				}
				return e.verdict("verifyOtp of the second send", "new code", r, success)
			}),
		withCode("verifyOtp/attempts-spent", "", roleVerifyAttempts, "right code after the cap "+notMatched,
			func(ctx context.Context, e *env, _ Fixture, s *sent) error {
				for i := range e.cfg.MaxAttempts {
					r, err := verify(ctx, e, fmt.Sprintf("wrong guess %d", i+1), s.id, wrongCode(s.sms.Code))
					if err != nil {
						return err
					}
					if err := e.expect(fmt.Sprintf("wrong guess %d", i+1), r, notMatched); err != nil {
						return err
					}
				}
				r, err := verify(ctx, e, "right code", s.id, s.sms.Code)
				if err != nil {
					return err
				}
				return e.verdict(fmt.Sprintf("right code after %d wrong guesses (--max-attempts %d)", e.cfg.MaxAttempts, e.cfg.MaxAttempts),
					"right code after the cap", r, notMatched)
			}),
		{Name: sf.name("verifyOtp/unknown-send-request-id", "cards/verify-unknown-authentication"), Spec: sf.spec("§7, §3", "§8, §3"),
			Expect: "404 INVALID_IDENTIFIER", run: func(ctx context.Context, e *env) error {
				r, err := verify(ctx, e, "verifyOtp", e.id("never-"+first), "123456")
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp", "", r, "404 INVALID_IDENTIFIER"); err != nil {
					return err
				}
				return e.names(r, sf.challengeIDField())
			}},
		{Name: sf.name("verifyOtp/send-not-successful", ""), Spec: "§7", Expect: "404 INVALID_IDENTIFIER",
			run: func(ctx context.Context, e *env) error {
				id := e.id("send")
				r, err := e.post(ctx, "sendOtp", sf.Path(methodSendOtp), e.unknownPhoneSend(id))
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
		{Name: sf.name("verifyOtp/code-expired", ""), Spec: "§7, §10", Expect: notMatched,
			never: "needs waiting out the code lifetime (--code-lifetime, 5 minutes by default)"},
	}
}

// resendScenarios are India Cards' resendOtp (SPEC §8).
func resendScenarios(sf Surface) []Scenario {
	if sf.Dialect != Current {
		return nil
	}
	verify := func(ctx context.Context, e *env, step, authID, code string) (*Response, error) {
		return e.post(ctx, step, sf.Path(methodVerifyOtp), e.c.CardVerifyOtpBody(e.id("verify"), authID, code))
	}
	resend := func(ctx context.Context, e *env, step, authID string) (*Response, error) {
		return e.post(ctx, step, sf.Path(methodResendOtp), e.c.ResendOtpBody(e.id("resend"), authID))
	}
	withSession := func(name, role, expect string, then func(ctx context.Context, e *env, f Fixture, s *sent) error) Scenario {
		return Scenario{Name: name, Spec: "§8", Expect: expect, needs: needCodes, run: func(ctx context.Context, e *env) error {
			return e.pool(e.fx.pool(role), func(f Fixture) error {
				s, _, err := e.challenge(ctx, sf, "authenticate", f)
				if err != nil {
					return err
				}
				return then(ctx, e, f, s)
			})
		}}
	}
	return []Scenario{
		withSession("cards/resend-success", roleCardResend, "200 result.success; old code 200 result.otpNotMatched; new code 200 result.success",
			func(ctx context.Context, e *env, f Fixture, s *sent) error {
				r, fresh, err := e.resendForCode(ctx, sf, "resendOtp", f, s, e.id("resend"))
				if err != nil {
					return err
				}
				if err := e.verdict("resendOtp", "", r, "200 result.success"); err != nil {
					return err
				}
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
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(roleCardResendLimit), func(f Fixture) error {
					s, _, err := e.authenticate(ctx, sf, "authenticate", false, f, byCard, false)
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
		{Name: "cards/resend-unknown-authentication", Spec: "§8, §3", Expect: "404 INVALID_IDENTIFIER",
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
	}
}

// resendForCode sends a resendOtp under requestID for the authentication s
// and, when it answers success, reads the code it texted. An
// otpRequestLimitReached is errSpent: resends spend the account's send
// budget too. Any other answer is returned for the caller to judge.
func (e *env) resendForCode(ctx context.Context, sf Surface, step string, f Fixture, s *sent, requestID string) (*Response, SMS, error) {
	mark := s.sms.Seq
	r, err := e.post(ctx, step, sf.Path(methodResendOtp), e.c.ResendOtpBody(requestID, s.id))
	if err != nil {
		return nil, SMS{}, err
	}
	if r.Status == 200 && r.Result() == "otpRequestLimitReached" {
		return r, SMS{}, errSpent
	}
	if r.Status != 200 || r.Result() != "success" {
		return r, SMS{}, nil
	}
	fresh, err := e.codes.Wait(ctx, f.Phone, mark)
	if err != nil {
		return r, SMS{}, e.fail(step+": no SMS", "%s answered success but: %v", step, err)
	}
	e.secret(fresh.Code)
	return r, fresh, nil
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
