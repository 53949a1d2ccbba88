package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/otpgate/otpgate/internal/gsp"
	"github.com/otpgate/otpgate/internal/otp"
)

// refusalReasons name, for our logs and metrics only, why authenticate sent
// no OTP. Google is told nativeOtpNotSupported with notSupportedByIssuer
// whatever the reason (SPEC §8): it has no use for it, and a caller probing
// card numbers learns nothing.
var refusalReasons = map[string]string{
	otp.AuthCardUnknown:  "CARD_NOT_FOUND",
	otp.AuthCardExpired:  "CARD_EXPIRED",
	otp.AuthNotEligible:  "ACCOUNT_NOT_ELIGIBLE",
	otp.AuthClosed:       "ACCOUNT_CLOSED",
	otp.SendLimitReached: "OTP_LIMIT_REACHED",
	otp.SendUnableToSend: "MESSAGE_UNABLE_TO_BE_SENT",
}

func (s *Server) authenticate(ctx context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeAuthenticate(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	inst := req.Instrument()
	// The number's hash under each card secret: a card imported before a
	// rotation is found by the older secret's.
	hashes := s.cfg.Cards.Lookup(inst.Number)
	in := otp.AuthenticateRequest{
		Ref: otp.Ref{Scope: req.RequestHeader.PaymentIntegratorAccountID, RequestID: c.requestID,
			Method: gsp.MethodAuthenticate, Fingerprint: req.Fingerprint(s.keyedDigest)},
		NativeOtp: req.RequestedAuthenticationTypes.NativeOtp != nil,
	}
	if inst.Token {
		in.TokenHashes = hashes
	} else {
		in.CardHashes = hashes
	}
	if inst.HasExpiry {
		in.ExpiryYear, in.ExpiryMonth = inst.Expiry.Year, inst.Expiry.Month
	}
	// What the SMS may state: the amount, and the card's last four digits
	// as the user knows them (see otp.AuthenticateRequest.Last4).
	// DecodeAuthenticate let through at most 18 digits of micros, which an
	// int64 holds.
	micros, err := strconv.ParseInt(string(req.Amount.AmountMicros), 10, 64)
	if err != nil {
		return reply{}, fmt.Errorf("server: amountMicros passed validation yet is no int64: %w", err)
	}
	in.AmountMicros, in.CurrencyCode = micros, req.Amount.CurrencyCode
	switch {
	case !inst.Token:
		in.Last4 = inst.Number[len(inst.Number)-4:]
	case req.AccountDetails.PaymentToken.Last4DigitsOnCard != "":
		in.Last4 = req.AccountDetails.PaymentToken.Last4DigitsOnCard // the funding card's
	}
	out, err := s.cfg.OTP.Authenticate(ctx, in)
	if err != nil {
		return reply{}, domainError(err, "", "")
	}
	s.cfg.Metrics.lockedOut(c.method, out)
	var native gsp.AuthenticateOutcome
	var result string
	switch reason, refused := refusalReasons[out.Result]; {
	case out.Result == otp.SendSuccess:
		native, result = gsp.NativeOtpSent, "nativeOtpSupport"
	case out.Result == otp.AuthNotRequested:
		native, result = gsp.NativeOtpNotRequested, "nativeOtpNotRequested"
	case refused:
		native, result = gsp.NativeOtpNotSupported, "nativeOtpNotSupported:"+reason
	default:
		return reply{}, errors.New("server: no authenticate answer for " + out.Result)
	}
	redirect := gsp.RedirectNotRequested
	if req.RequestedAuthenticationTypes.RedirectURL != nil {
		redirect = gsp.RedirectNotSupported // otpgate authenticates by native OTP only
	}
	resp := s.cfg.AuthenticateShapes.Response(gsp.NewResponseHeader(s.cfg.Now()), out.ReplyID, s.cfg.CvnResult, native, redirect)
	return reply{result: result, body: resp}, nil
}

// keyedDigest stands for a card secret (number, CVN, cryptogram) in an
// idempotency fingerprint: the card hasher's HMAC, never the secret itself,
// and the same while card secrets are added (see otp.CardHasher.Digest).
func (s *Server) keyedDigest(secret string) string {
	return hex.EncodeToString(s.cfg.Cards.Digest(secret))
}

func (s *Server) cardVerifyOtp(ctx context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeCardVerifyOtp(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	out, err := s.cfg.OTP.Verify(ctx, otp.VerifyRequest{
		Ref: otp.Ref{Scope: req.RequestHeader.PaymentIntegratorAccountID, RequestID: c.requestID,
			Method: gsp.MethodCardVerifyOtp, Fingerprint: req.Fingerprint()},
		SendRequestID: req.AuthenticateRequestID,
		SendMethod:    gsp.MethodAuthenticate,
		Code:          req.OTP,
	})
	if err != nil {
		return reply{}, domainError(err, "authenticateRequestId", req.AuthenticateRequestID)
	}
	s.cfg.Metrics.lockedOut(c.method, out)
	resp := gsp.CardVerifyOtpResponse{ResponseHeader: gsp.NewResponseHeader(s.cfg.Now()), PaymentIntegratorVerifyOtpID: out.ReplyID}
	switch out.Result {
	case otp.VerifySuccess:
		resp.Result.Success, resp.Eci = &gsp.Empty{}, s.cfg.ECI
		return reply{result: "success", body: resp}, nil
	case otp.VerifyNotMatched:
		resp.Result.OtpNotMatched = &gsp.Empty{}
		return reply{result: "otpNotMatched", body: resp}, nil
	case otp.VerifyAlreadyUsed:
		resp.Result.OtpAlreadyUsed = &gsp.Empty{}
		return reply{result: "otpAlreadyUsed", body: resp}, nil
	}
	return reply{}, errors.New("server: no card verifyOtp answer for " + out.Result)
}

func (s *Server) resendOtp(ctx context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeResendOtp(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	out, err := s.cfg.OTP.Resend(ctx, otp.ResendRequest{
		Ref: otp.Ref{Scope: req.RequestHeader.PaymentIntegratorAccountID, RequestID: c.requestID,
			Method: gsp.MethodResendOtp, Fingerprint: req.Fingerprint()},
		AuthenticateRequestID: req.AuthenticateRequestID,
		SessionMethod:         gsp.MethodAuthenticate,
	})
	if err != nil {
		return reply{}, domainError(err, "authenticateRequestId", req.AuthenticateRequestID)
	}
	s.cfg.Metrics.lockedOut(c.method, out)
	resp := gsp.ResendOtpResponse{ResponseHeader: gsp.NewResponseHeader(s.cfg.Now())}
	switch out.Result {
	case otp.ResendSuccess:
		resp.Result.Success = &gsp.Empty{}
		return reply{result: "success", body: resp}, nil
	case otp.ResendExpired:
		resp.Result.RequestExpired = &gsp.Empty{}
		return reply{result: "requestExpired", body: resp}, nil
	case otp.ResendLimitReached:
		resp.Result.OtpRequestLimitReached = &gsp.Empty{}
		return reply{result: "otpRequestLimitReached", body: resp}, nil
	}
	return reply{}, errors.New("server: no resendOtp answer for " + out.Result)
}

func (s *Server) echoV2(_ context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeEchoV2(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	return reply{result: "ECHO", body: gsp.EchoV2Response{
		ResponseHeader: gsp.NewResponseHeader(s.cfg.Now()),
		ClientMessage:  req.ClientMessage,
		ServerMessage:  "otpgate call " + c.id,
	}}, nil
}
