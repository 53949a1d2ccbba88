package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// The groups of the rules every method shares (SPEC §1–5, §9): echo, the
// header, the body, idempotency, the envelope, and which surfaces answer.

func echoScenarios(sf Surface) []Scenario {
	want := fmt.Sprintf("200 clientMessage=%q", echoMessage)
	if sf.Dialect == Legacy {
		return []Scenario{single(sf, sf.label+"echo/v1", "§9", want, 0, methodEcho, func(e *env) any {
			return e.c.EchoBody(e.id("echo"), echoMessage)
		})}
	}
	return []Scenario{
		single(sf, "echo/v2", "§9", want, 0, methodEcho, func(e *env) any { return e.c.EchoV2Body(e.id("echo"), echoMessage) }),
		// Google's India Cards echo example sends major 1 on /v2/echo.
		single(sf, "echo/v2-major-1", "§9, §1", want, 0, methodEcho, func(e *env) any {
			b := e.c.EchoV2Body(e.id("echo"), echoMessage)
			hdr(b)["protocolVersion"] = map[string]any{"major": 1}
			return b
		}),
	}
}

// versions checks what an invalidApiVersion says (SPEC §3): the major that
// was sent, and one of want as the major expected.
func (e *env) versions(r *Response, sent int, want ...int) error {
	detail, _ := r.Body["errorResponseResult"].(map[string]any)["invalidApiVersion"].(map[string]any)
	got, _ := majorOf(detail["requestVersion"])
	expected, _ := majorOf(detail["expectedVersion"])
	if got != sent || !slices.Contains(want, expected) {
		return e.fail(r.Summary()+fmt.Sprintf(" (requestVersion %d, expectedVersion %d)", got, expected),
			"invalidApiVersion says requestVersion.major %d and expectedVersion.major %d; want %d and one of %v (SPEC §3)",
			got, expected, sent, want)
	}
	return nil
}

// fieldNamed checks that an invalidFieldValue names the field (SPEC §3).
func (e *env) fieldNamed(r *Response, field string) error {
	detail, _ := r.Body["errorResponseResult"].(map[string]any)["invalidFieldValue"].(map[string]any)
	name, _ := detail["invalidFieldName"].(string)
	if !strings.Contains(name, field) {
		return e.fail(r.Summary()+fmt.Sprintf(" (invalidFieldName %q)", name),
			"invalidFieldValue.invalidFieldName is %q; want it to name %s (SPEC §3)", name, field)
	}
	return nil
}

func headerScenarios(sf Surface) []Scenario {
	if sf.Dialect == Current {
		return currentHeaderScenarios(sf)
	}
	name := func(n string) string { return sf.label + n }
	send := func(n, expect string, edit func(e *env, body map[string]any)) Scenario {
		return single(sf, name(n), "§2", expect, 0, methodSendOtp, func(e *env) any {
			body := e.unknownPhoneSend(e.id("hdr"))
			edit(e, body)
			return body
		})
	}
	echo := func(n, expect string, edit func(e *env, body map[string]any)) Scenario {
		return single(sf, name(n), "§2, §1", expect, 0, methodEcho, func(e *env) any {
			body := e.c.EchoBody(e.id("hdr"), echoMessage)
			edit(e, body)
			return body
		})
	}
	ok := fmt.Sprintf("200 clientMessage=%q", echoMessage)
	return []Scenario{
		send("header/legacy-wrong-major", "400 INVALID_API_VERSION", func(_ *env, b map[string]any) {
			hdr(b)["protocolVersion"] = map[string]any{"major": 2, "minor": 0, "revision": 0}
		}),
		send("header/timestamp-too-old", "400 REQUEST_TIMESTAMP_OUT_OF_RANGE", func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(-e.cfg.Window-2*time.Second))
		}),
		send("header/timestamp-too-new", "400 REQUEST_TIMESTAMP_OUT_OF_RANGE", func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(e.cfg.Window+2*time.Second))
		}),
		echo("header/timestamp-inside-window", ok, func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(-e.cfg.Window+5*time.Second))
		}),
		echo("header/timestamp-as-number", ok, func(e *env, b map[string]any) {
			hdr(b)["requestTimestamp"] = e.c.Now().UnixMilli()
		}),
		send("header/missing-request-id", "400 MISSING_REQUIRED_FIELD", func(_ *env, b map[string]any) {
			delete(hdr(b), "requestId")
		}),
		echo("header/request-id-100-chars", ok, func(_ *env, b map[string]any) {
			id := hdr(b)["requestId"].(string)
			hdr(b)["requestId"] = id + strings.Repeat("x", 100-len(id))
		}),
		send("header/request-id-101-chars", "400 INVALID_FIELD_VALUE", func(_ *env, b map[string]any) {
			id := hdr(b)["requestId"].(string)
			hdr(b)["requestId"] = id + strings.Repeat("x", 101-len(id))
		}),
		send("header/request-id-bad-characters", "400 INVALID_FIELD_VALUE", func(_ *env, b map[string]any) {
			hdr(b)["requestId"] = hdr(b)["requestId"].(string) + " /é"
		}),
	}
}

func currentHeaderScenarios(sf Surface) []Scenario {
	echoPath := sf.Path(methodEcho)
	// echo is a /v2/echo with its header edited; ownPIAID when the edit
	// takes the PIAID out.
	echo := func(name, expect string, ownPIAID bool, edit func(e *env, body map[string]any), then func(e *env, r *Response) error) Scenario {
		return Scenario{Name: name, Spec: "§2, §1", Expect: expect, ownPIAID: ownPIAID, run: func(ctx context.Context, e *env) error {
			body := e.c.EchoV2Body(e.id("hdr"), echoMessage)
			edit(e, body)
			r, err := e.post(ctx, "echo", echoPath, body)
			if err != nil {
				return err
			}
			if err := e.verdict("echo", "", r, expect); err != nil || then == nil {
				return err
			}
			return then(e, r)
		}}
	}
	return []Scenario{
		{Name: "header/cards-wrong-major", Spec: "§2, §1, §3", Expect: "400 INVALID_API_VERSION",
			run: func(ctx context.Context, e *env) error {
				b := e.c.CardVerifyOtpBody(e.id("hdr"), e.id("auth"), "123456")
				hdr(b)["protocolVersion"] = map[string]any{"major": 2}
				r, err := e.post(ctx, "verifyOtp", sf.Path(methodVerifyOtp), b)
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp", "", r, "400 INVALID_API_VERSION"); err != nil {
					return err
				}
				return e.versions(r, 2, 1)
			}},
		// /v2/echo speaks majors 1 and 2 (SPEC §1); 3 is past both.
		echo("header/echo-v2-wrong-major", "400 INVALID_API_VERSION", false, func(_ *env, b map[string]any) {
			hdr(b)["protocolVersion"] = map[string]any{"major": 3}
		}, func(e *env, r *Response) error { return e.versions(r, 3, 1, 2) }),
		echo("header/cards-timestamp-too-old", "400 REQUEST_TIMESTAMP_OUT_OF_RANGE", false, func(e *env, b map[string]any) {
			stamp(b, e.c.Now().Add(-e.cfg.Window-2*time.Second))
		}, nil),
		echo("header/cards-request-id-101-chars", "400 INVALID_FIELD_VALUE", false, func(_ *env, b map[string]any) {
			id := hdr(b)["requestId"].(string)
			hdr(b)["requestId"] = id + strings.Repeat("x", 101-len(id))
		}, func(e *env, r *Response) error { return e.fieldNamed(r, "requestId") }),
		{Name: "header/unknown-piaid", Spec: "§2, §1", Expect: "404 INVALID_IDENTIFIER", ownPIAID: true, run: func(ctx context.Context, e *env) error {
			b := e.c.EchoV2Body(e.id("hdr"), echoMessage)
			stranger := "SimulatorStranger_" + e.c.Run()
			hdr(b)["paymentIntegratorAccountId"] = stranger
			r, err := e.post(ctx, "echo", echoPath, b)
			if err != nil {
				return err
			}
			if err := e.verdict("echo", "", r, "404 INVALID_IDENTIFIER"); err != nil {
				return err
			}
			return e.names(r, stranger)
		}},
		echo("header/missing-piaid", "400 MISSING_REQUIRED_FIELD", true, func(_ *env, b map[string]any) {
			delete(hdr(b), "paymentIntegratorAccountId")
		}, nil),
	}
}

// splice returns the JSON of body with the member name: value added to the
// object at path (member names from the top; none for the top level). A
// Go map cannot hold a member twice, nor keep its order, so the text is
// spliced: this is how the strict-JSON scenarios send a duplicate member.
func splice(body map[string]any, path []string, name string, value any) ([]byte, error) {
	const marker = "__otpgate_simulator_splice__"
	obj := body
	for _, p := range path {
		next, ok := obj[p].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("splice: no object %s", strings.Join(path, "."))
		}
		obj = next
	}
	obj[marker] = true
	defer delete(obj, marker)
	text, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	k, err := json.Marshal(name)
	if err != nil {
		return nil, err
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	return bytes.Replace(text, []byte(`"`+marker+`":true`), append(append(k, ':'), v...), 1), nil
}

func bodyScenarios(sf Surface) []Scenario {
	// base is the harmless request of the dialect; account locates the
	// member naming whom to text, and a second value for it that names
	// nobody known either.
	method := sf.challengeMethod()
	var account struct {
		path        []string
		member, cap string
		other       string
	}
	if sf.Dialect == Current {
		account.path, account.member, account.cap = []string{"accountDetails", "card"}, "accountNumber", "ACCOUNTNUMBER"
		account.other = otherUnknownCard.Number
	} else {
		account.member, account.cap = "accountPhoneNumber", "ACCOUNTPHONENUMBER"
		account.other = strings.TrimPrefix(UnknownPhone, "+") // not E.164 either
	}
	base := func(e *env) map[string]any {
		e.secret(otherUnknownCard.Number)
		_, body, _ := e.harmless(sf, e.id("body"))
		return body
	}
	strict := func(legacy, current string, edit func(e *env, body map[string]any) ([]byte, error)) Scenario {
		return single(sf, sf.name(legacy, current), "§1, §2", "400 INVALID_DECRYPTED_REQUEST", 0, method, func(e *env) any {
			text, err := edit(e, base(e))
			if err != nil {
				panic(err) // a bug of the scenario, reported as its failure
			}
			return text
		})
	}
	accountObj := func(b map[string]any) map[string]any {
		for _, p := range account.path {
			b = b[p].(map[string]any)
		}
		return b
	}
	// Strict JSON (SPEC §1): a member twice, or a known member in other
	// letters, is refused, so that no two parsers can disagree about whom
	// a signed body names. The duplicate comes first: a lax parser that
	// keeps the last member answers 200 and fails the scenario.
	scenarios := []Scenario{
		strict("body/duplicate-request-id", "cards/body-duplicate-request-id", func(e *env, b map[string]any) ([]byte, error) {
			return splice(b, []string{"requestHeader"}, "requestId", e.id("other"))
		}),
		strict("body/request-id-other-case", "cards/body-request-id-other-case", func(e *env, b map[string]any) ([]byte, error) {
			return splice(b, []string{"requestHeader"}, "RequestId", e.id("other"))
		}),
		strict("body/duplicate-phone-number", "cards/body-duplicate-card-number", func(_ *env, b map[string]any) ([]byte, error) {
			return splice(b, account.path, account.member, account.other)
		}),
		strict("body/phone-number-other-case", "cards/body-card-number-other-case", func(_ *env, b map[string]any) ([]byte, error) {
			obj := accountObj(b)
			v := obj[account.member]
			delete(obj, account.member)
			return splice(b, account.path, account.cap, v)
		}),
	}
	if sf.Dialect == Current {
		return scenarios
	}
	name := func(n string) string { return sf.label + n }
	raw := func(n, expect string, body string) Scenario {
		return single(sf, name(n), "§2", expect, 0, methodSendOtp, func(*env) any { return []byte(body) })
	}
	send := func(n, expect string, edit func(e *env, body map[string]any)) Scenario {
		return single(sf, name(n), "§2, §6", expect, 0, methodSendOtp, func(e *env) any {
			body := e.unknownPhoneSend(e.id("body"))
			edit(e, body)
			return body
		})
	}
	return append([]Scenario{
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
	}, scenarios...)
}

func idempotencyScenarios(sf Surface) []Scenario {
	// Shared by both dialects: the same requestId on the same method with
	// another payload.
	changed := Scenario{Name: sf.name("idempotency/changed-payload", "cards/changed-payload"), Spec: sf.spec("§4", "§4, §8"),
		Expect: "412 IDEMPOTENCY_VIOLATION", run: func(ctx context.Context, e *env) error {
			method, body, want := e.harmless(sf, e.id("changed"))
			r, err := e.post(ctx, method, sf.Path(method), body)
			if err != nil {
				return err
			}
			if err := e.expect(method, r, want); err != nil {
				return err
			}
			if sf.Dialect == Current {
				body["amount"] = map[string]any{"amountMicros": "1000000", "currencyCode": "INR"}
			} else {
				body["smsMatchingToken"] = NewSMSMatchingToken()
			}
			stamp(body, e.c.Now())
			step := method + " with another payload"
			if r, err = e.post(ctx, step, sf.Path(method), body); err != nil {
				return err
			}
			return e.verdict(step, "", r, "412 IDEMPOTENCY_VIOLATION")
		}}
	if sf.Dialect == Current {
		return []Scenario{cardsReplay(sf), changed, cardsSharedRequestID(sf)}
	}
	name := func(n string) string { return sf.label + n }
	sendPath, verifyPath := sf.Path(methodSendOtp), sf.Path(methodVerifyOtp)
	return []Scenario{
		{Name: name("idempotency/replay-send-success"), Spec: "§4", Expect: "200 SUCCESS; retry: same answer; 1 SMS",
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(sf.role(roleReplaySend)), func(f Fixture) error {
					s, first, err := e.sendOtp(ctx, sf, "sendOtp", true, f, Account{AssociationID: f.AssociationID()}, false)
					if err != nil {
						return err
					}
					return e.replay(ctx, first, func() error { return e.oneSMS(f, s.mark, "a sendOtp and its retry") })
				})
			}},
		{Name: name("idempotency/replay-verify-success"), Spec: "§4, §7", Expect: "200 SUCCESS; retry: same answer",
			needs: needCodes, run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(sf.role(roleReplayVerify)), func(f Fixture) error {
					s, _, err := e.challenge(ctx, sf, "sendOtp", f)
					if err != nil {
						return err
					}
					r, err := e.post(ctx, "verifyOtp", verifyPath, e.c.VerifyOtpBody(e.id("verify"), s.id, s.sms.Code))
					if err != nil {
						return err
					}
					if err := e.verdict("verifyOtp", "", r, "200 SUCCESS"); err != nil {
						return err
					}
					return e.replay(ctx, r, nil)
				})
			}},
		changed,
		// Idempotency is scoped by method (SPEC §4): Google's own sendOtp
		// and verifyOtp examples share one requestId.
		{Name: name("idempotency/other-method"), Spec: "§4",
			Expect: "verifyOtp, same requestId 404 INVALID_IDENTIFIER; retry: same answer",
			run: func(ctx context.Context, e *env) error {
				id := e.id("shared")
				first, err := e.post(ctx, "sendOtp", sendPath, e.unknownPhoneSend(id))
				if err != nil {
					return err
				}
				if err := e.expect("sendOtp", first, "200 UNKNOWN_PHONE_NUMBER"); err != nil {
					return err
				}
				// A new request, looked up like any: its sendOtp answered
				// no SUCCESS, so there is nothing to verify.
				r, err := e.post(ctx, "verifyOtp under the sendOtp's requestId", verifyPath, e.c.VerifyOtpBody(id, id, "123456"))
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp under the sendOtp's requestId", "verifyOtp, same requestId", r, "404 INVALID_IDENTIFIER"); err != nil {
					return err
				}
				// And the sendOtp's own record is untouched.
				return e.replay(ctx, first, nil)
			}},
		{Name: name("idempotency/send-and-verify-share-a-request-id"), Spec: "§4, §7",
			Expect: "200 SUCCESS; verifyOtp, same requestId 200 SUCCESS; retry: same answer; 1 SMS", needs: needCodes,
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(sf.role(roleSharedRequestID)), func(f Fixture) error {
					s, first, err := e.sendOtp(ctx, sf, "sendOtp", true, f, Account{AssociationID: f.AssociationID()}, true)
					if err != nil {
						return err
					}
					// As in Google's examples: the verifyOtp's own
					// requestId is its sendOtp's.
					r, err := e.post(ctx, "verifyOtp under the sendOtp's requestId", verifyPath, e.c.VerifyOtpBody(s.id, s.id, s.sms.Code))
					if err != nil {
						return err
					}
					if err := e.verdict("verifyOtp under the sendOtp's requestId", "verifyOtp, same requestId", r, "200 SUCCESS"); err != nil {
						return err
					}
					return e.replay(ctx, first, func() error { return e.oneSMS(f, s.mark, "a sendOtp, its verifyOtp and the sendOtp's retry") })
				})
			}},
		{Name: name("idempotency/retry-after-error"), Spec: "§4", Expect: "400 REQUEST_TIMESTAMP_OUT_OF_RANGE; retry 200 UNKNOWN_PHONE_NUMBER",
			run: func(ctx context.Context, e *env) error {
				body := e.unknownPhoneSend(e.id("send"))
				stamp(body, e.c.Now().Add(-e.cfg.Window-time.Minute))
				r, err := e.post(ctx, "sendOtp", sendPath, body)
				if err != nil {
					return err
				}
				if err := e.verdict("sendOtp", "", r, "400 REQUEST_TIMESTAMP_OUT_OF_RANGE"); err != nil {
					return err
				}
				stamp(body, e.c.Now())
				if r, err = e.post(ctx, "retry", sendPath, body); err != nil {
					return err
				}
				return e.verdict("retry", "retry", r, "200 UNKNOWN_PHONE_NUMBER")
			}},
		{Name: name("idempotency/concurrent-duplicates"), Spec: "§4, §3", Expect: "5 copies at once: 200 SUCCESS, one answer; 1 SMS",
			run: func(ctx context.Context, e *env) error {
				return e.pool(e.fx.pool(sf.role(roleDuplicates)), func(f Fixture) error { return e.duplicates(ctx, sf, f, 5) })
			}},
		{Name: name("idempotency/retry-after-503"), Spec: "§4", Expect: "503, then the retry processed afresh",
			never: "needs an outage of the target's database or a failing SMS provider"},
	}
}

// cardsReplay retries an authenticate that texted nobody.
func cardsReplay(sf Surface) Scenario {
	return Scenario{Name: "cards/replay", Spec: "§4, §8", Expect: notSupported + "; retry: same answer",
		run: func(ctx context.Context, e *env) error {
			method, body, want := e.harmless(sf, e.id("auth"))
			r, err := e.post(ctx, method, sf.Path(method), body)
			if err != nil {
				return err
			}
			if err := e.verdict(method, "", r, want); err != nil {
				return err
			}
			return e.replay(ctx, r, nil)
		}}
}

// cardsSharedRequestID plays Google's India Cards examples, whose resendOtp
// and verifyOtp share one requestId: scoped by method, both are processed
// (SPEC §4).
func cardsSharedRequestID(sf Surface) Scenario {
	return Scenario{Name: "cards/resend-and-verify-share-a-request-id", Spec: "§4, §8",
		Expect: "resendOtp 200 result.success; verifyOtp, same requestId 200 result.success; retry: same answer",
		needs:  needCodes, run: func(ctx context.Context, e *env) error {
			return e.pool(e.fx.pool(sf.role(roleSharedRequestID)), func(f Fixture) error {
				s, _, err := e.challenge(ctx, sf, "authenticate", f)
				if err != nil {
					return err
				}
				shared := e.id("shared")
				r, fresh, err := e.resendForCode(ctx, sf, "resendOtp", f, s, shared)
				if err != nil {
					return err
				}
				if err := e.verdict("resendOtp", "resendOtp", r, "200 result.success"); err != nil {
					return err
				}
				v, err := e.post(ctx, "verifyOtp under the resendOtp's requestId", sf.Path(methodVerifyOtp),
					e.c.CardVerifyOtpBody(shared, s.id, fresh.Code))
				if err != nil {
					return err
				}
				if err := e.verdict("verifyOtp under the resendOtp's requestId", "verifyOtp, same requestId", v, "200 result.success"); err != nil {
					return err
				}
				// The resendOtp's own record is untouched: its retry is
				// answered from it, and texts no one.
				return e.replay(ctx, r, func() error { return e.countSMS(f, fresh.Seq, 0, "the retry of a resendOtp") })
			})
		}}
}

// oneSMS checks that f's phone got exactly one SMS after mark, when the
// codes are read from the SMS file; an operator cannot count them.
func (e *env) oneSMS(f Fixture, mark Mark, after string) error {
	return e.countSMS(f, mark, 1, after)
}

// countSMS checks that f's phone got want SMS after mark.
func (e *env) countSMS(f Fixture, mark Mark, want int, after string) error {
	if e.codes == nil || !e.codes.Automatic() {
		e.note("the SMS count is not checked without --sms-file")
		return nil
	}
	n, _, err := e.codes.Count(f.Phone, mark)
	if err != nil {
		return e.fail("reading SMS", "%v", err)
	}
	if n != want {
		return e.fail(fmt.Sprintf("%d SMS", n), "%d SMS after %s, want %d (SPEC §4: no second effect)", n, after, want)
	}
	if want > 0 {
		e.gots = append(e.gots, fmt.Sprintf("%d SMS", want))
	}
	return nil
}

// noSMS runs step and checks that f's phone got no SMS from it; f nil is a
// request for no account's card, and step runs alone.
func (e *env) noSMS(f *Fixture, step func() error) error {
	if f == nil || e.codes == nil || !e.codes.Automatic() {
		return step()
	}
	mark, err := e.codes.Mark(f.Phone)
	if err != nil {
		return e.fail("reading SMS", "%v", err)
	}
	e.secret(f.Phone[3:])
	if err := step(); err != nil {
		return err
	}
	n, _, err := e.codes.Count(f.Phone, mark)
	if err != nil {
		return e.fail("reading SMS", "%v", err)
	}
	if n != 0 {
		return e.fail(fmt.Sprintf("%d SMS", n), "%d SMS to the account's phone, want none: nothing was sent, says the answer", n)
	}
	e.gots = append(e.gots, "no SMS")
	return nil
}

// duplicates sends n copies of one sendOtp at once: each gets the same
// SUCCESS (or a bare 503 after waiting for the first, SPEC §4 and §3) and
// one SMS goes out.
func (e *env) duplicates(ctx context.Context, sf Surface, f Fixture, n int) error {
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
			rs[i], errs[i] = e.c.Post(ctx, sf.Path(methodSendOtp), plaintext)
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
			// Allowed, but in SPEC §3's form: no error code.
			if err := e.expect(fmt.Sprintf("copy %d", i+1), r, "503"); err != nil {
				return err
			}
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
	if unavailable > 0 {
		e.note("%d copies got a 503 after waiting for the first (allowed)", unavailable)
	}
	e.gots = append(e.gots, fmt.Sprintf("%d copies at once: 200 SUCCESS, one answer", n))
	return e.oneSMS(f, mark, fmt.Sprintf("%d copies of one sendOtp", n))
}

// legacySurface is the first legacy surface the target serves, for the
// scenarios of no surface that need one.
func (e *env) legacySurface() (Surface, error) {
	sf, ok := firstServed(e.cfg.Surfaces, Legacy)
	if !ok {
		return sf, skipError{"needs a legacy surface the target serves (standard, e-wallets or korea-e-wallets in --surfaces)"}
	}
	return sf, nil
}

func envelopeScenarios() []Scenario {
	return []Scenario{
		{Name: "envelope/not-an-envelope", Spec: "§2, §5", Expect: "400 INVALID_PAYLOAD_ENCRYPTION", needs: needProtected,
			run: func(ctx context.Context, e *env) error {
				sf, err := e.legacySurface()
				if err != nil {
					return err
				}
				r, err := e.c.PostSealed(ctx, sf.Path(methodEcho), []byte("this is not a protected body"), e.c.Codec().ContentType())
				if err != nil {
					return e.fail("no answer", "echo: %v", err)
				}
				return e.verdict("echo", "", r, "400 INVALID_PAYLOAD_ENCRYPTION")
			}},
		{Name: "envelope/bad-signature", Spec: "§2, §3, §5", Expect: "401 (empty body); then, same requestId 200 UNKNOWN_PHONE_NUMBER",
			needs: needProtected | needImpostor, run: func(ctx context.Context, e *env) error {
				sf, err := e.legacySurface()
				if err != nil {
					return err
				}
				id := e.id("send")
				r, err := e.c.PostWith(ctx, e.cfg.Impostor, sf.Path(methodSendOtp), e.unknownPhoneSend(id))
				if err != nil {
					return e.fail("no answer", "sendOtp signed by a stranger: %v", err)
				}
				if err := e.verdict("sendOtp signed by a stranger", "", r, "401 (empty body)"); err != nil {
					return err
				}
				// Nothing may have been stored: the requestId is still new,
				// so another payload under it is no IDEMPOTENCY_VIOLATION.
				if r, err = e.post(ctx, "sendOtp, signed by Google, same requestId", sf.Path(methodSendOtp), e.unknownPhoneSend(id)); err != nil {
					return err
				}
				return e.verdict("sendOtp, signed by Google, same requestId", "then, same requestId", r, "200 UNKNOWN_PHONE_NUMBER")
			}},
		{Name: "envelope/wrong-encryption-key", Spec: "§2, §5", Expect: "400 INVALID_PAYLOAD_ENCRYPTION",
			needs: needProtected | needMisdirected, run: func(ctx context.Context, e *env) error {
				sf, err := e.legacySurface()
				if err != nil {
					return err
				}
				r, err := e.c.PostWith(ctx, e.cfg.Misdirected, sf.Path(methodEcho), e.c.EchoBody(e.id("echo"), echoMessage))
				if err != nil {
					return e.fail("no answer", "echo encrypted to a stranger: %v", err)
				}
				return e.verdict("echo encrypted to a stranger", "", r, "400 INVALID_PAYLOAD_ENCRYPTION")
			}},
	}
}

// surfaceOffScenarios check, for each surface the target does not serve,
// that none of its paths answers: a deployment that turned a surface off
// (`otpgate serve --surfaces`) must not expose it. The 404 is the HTTP
// router's, not an ErrorResponse of otpgate's: an ErrorResponse, even a 404
// INVALID_IDENTIFIER, means the path is served.
func surfaceOffScenarios() []Scenario {
	var out []Scenario
	for _, sf := range surfaceTable {
		out = append(out, Scenario{Name: "surfaces/" + sf.Name + "-off", Spec: "§1",
			Expect: fmt.Sprintf("404 on its %d paths", len(sf.Methods)), offSurface: sf.Name,
			run: func(ctx context.Context, e *env) error {
				body := e.c.EchoBody(e.id("off"), echoMessage)
				if sf.Dialect == Current {
					body = e.c.EchoV2Body(e.id("off"), echoMessage)
				}
				for _, m := range sf.Methods {
					p := sf.Path(m)
					r, err := e.post(ctx, p, p, body)
					if err != nil {
						return err
					}
					if r.Status != 404 || r.Body != nil {
						return e.fail(p+": "+r.Summary(), "%s answers %s: the surface %s is served, although --surfaces leaves it out",
							p, r.Summary(), sf.Name)
					}
				}
				e.gots = append(e.gots, fmt.Sprintf("404 on its %d paths", len(sf.Methods)))
				return nil
			}})
	}
	return out
}
