package server

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/otpgate/otpgate/internal/gsp"
	"github.com/otpgate/otpgate/internal/otp"
)

// Reasons given with nativeOtpResult.unsupported: our reading (SPEC §8 [?]),
// chosen here and nowhere else.
var authenticateReasons = map[string]string{
	otp.AuthCardUnknown:  "CARD_NOT_FOUND",
	otp.AuthCardExpired:  "CARD_EXPIRED",
	otp.AuthNotEligible:  "ACCOUNT_NOT_ELIGIBLE",
	otp.AuthClosed:       "ACCOUNT_CLOSED",
	otp.SendLimitReached: "OTP_LIMIT_REACHED",
	otp.SendUnableToSend: "MESSAGE_UNABLE_TO_BE_SENT",
}

// redirectUnsupported is the answer to every redirectUrl request: otpgate
// authenticates by native OTP only.
const redirectUnsupported = "REDIRECT_NOT_SUPPORTED"

func (s *Server) authenticate(ctx context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeAuthenticate(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	card := req.Card()
	hash := s.cfg.Cards.Hash(card.AccountNumber)
	expiry, _ := card.Expiry() // validated by DecodeAuthenticate
	out, err := s.cfg.OTP.Authenticate(ctx, otp.AuthenticateRequest{
		Ref: otp.Ref{Scope: req.RequestHeader.PaymentIntegratorAccountID, RequestID: c.requestID,
			Method: gsp.MethodAuthenticate, Fingerprint: req.Fingerprint(hex.EncodeToString(hash))},
		CardHash: hash, ExpiryYear: expiry.Year, ExpiryMonth: expiry.Month,
		NativeOtp: req.RequestedAuthenticationTypes.NativeOtp != nil,
	})
	if err != nil {
		return reply{}, domainError(err, "", "")
	}
	resp := gsp.AuthenticateResponse{
		ResponseHeader:                  gsp.NewResponseHeader(s.cfg.Now()),
		PaymentIntegratorAuthenticateID: out.ReplyID,
	}
	native := &gsp.NativeOtpResult{}
	result := "otpSent"
	switch reason, known := authenticateReasons[out.Result]; {
	case out.Result == otp.SendSuccess:
		native.OtpSent = &gsp.Empty{}
	case out.Result == otp.AuthNotRequested:
		native.NotRequested, result = &gsp.Empty{}, "nativeOtpNotRequested"
	case known:
		native.Unsupported, result = &gsp.Unsupported{Reason: reason}, "unsupported:"+reason
	default:
		return reply{}, errors.New("server: no authenticate answer for " + out.Result)
	}
	resp.NativeOtpResult = native
	if req.RequestedAuthenticationTypes.RedirectURL != nil {
		resp.RedirectURLResult = &gsp.RedirectURLResult{Unsupported: &gsp.Unsupported{Reason: redirectUnsupported}}
	} else {
		resp.RedirectURLResult = &gsp.RedirectURLResult{NotRequested: &gsp.Empty{}}
	}
	return reply{result: result, body: resp}, nil
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
	}, s.cfg.CardPolicy)
	if err != nil {
		return reply{}, domainError(err, "authenticateRequestId", req.AuthenticateRequestID)
	}
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
