package server

import (
	"context"
	"errors"

	"github.com/otpgate/otpgate/internal/gsp"
	"github.com/otpgate/otpgate/internal/otp"
)

// legacySendResults maps domain results to Google's SendOtpResultCode: the one
// place where the legacy dialect's sendOtp codes are chosen.
var legacySendResults = map[string]gsp.SendOtpResult{
	otp.SendSuccess:            gsp.SendSuccess,
	otp.SendInvalidPhone:       gsp.SendInvalidPhoneNumber,
	otp.SendUnknownPhone:       gsp.SendUnknownPhoneNumber,
	otp.SendPhoneNotAssociated: gsp.SendPhoneNotAssociated,
	otp.SendAccountClosed:      gsp.SendAccountClosed,
	otp.SendAccountTakenOver:   gsp.SendAccountClosedAccountTakenOver,
	otp.SendAccountFraud:       gsp.SendAccountClosedFraud,
	otp.SendNotEligible:        gsp.SendNotEligible,
	otp.SendLimitReached:       gsp.SendOtpLimitReached,
	otp.SendUnableToSend:       gsp.SendMessageUnableToBeSent,
}

// legacyVerifyResults maps domain results to Google's VerifyOtpResultCode.
var legacyVerifyResults = map[string]gsp.VerifyOtpResult{
	otp.VerifySuccess:     gsp.VerifySuccess,
	otp.VerifyNotMatched:  gsp.VerifyOtpNotMatched,
	otp.VerifyAlreadyUsed: gsp.VerifyOtpAlreadyUsed,
}

func (s *Server) limits(c *call) gsp.Limits {
	return gsp.Limits{Now: c.now, Window: s.cfg.Window, PIAIDs: s.piaids}
}

func (s *Server) sendOtp(ctx context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeSendOtp(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	in := otp.SendRequest{
		Ref:           otp.Ref{Scope: c.surface.Scope, RequestID: c.requestID, Method: gsp.MethodSendOtp, Fingerprint: req.Fingerprint()},
		AssociationID: req.AssociationID, SMSMatchingToken: req.SMSMatchingToken,
	}
	if req.AccountPhoneNumber != "" {
		canonical, err := s.cfg.ParsePhone(req.AccountPhoneNumber)
		in.Phone, in.PhoneValid = canonical, err == nil
		if err != nil {
			in.Phone = req.AccountPhoneNumber
		}
	}
	out, err := s.cfg.OTP.Send(ctx, in)
	if err != nil {
		return reply{}, domainError(err, "associationId", req.AssociationID)
	}
	s.cfg.Metrics.lockedOut(c.method, out)
	result, ok := legacySendResults[out.Result]
	if !ok {
		return reply{}, errors.New("server: no sendOtp result code for " + out.Result)
	}
	return reply{result: string(result), body: gsp.SendOtpResponse{
		ResponseHeader:             gsp.LegacyResponseHeader{ResponseTimestamp: gsp.MillisOf(s.cfg.Now())},
		PaymentIntegratorSendOtpID: out.ReplyID,
		Result:                     result,
	}}, nil
}

func (s *Server) verifyOtp(ctx context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeVerifyOtp(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	out, err := s.cfg.OTP.Verify(ctx, otp.VerifyRequest{
		Ref:           otp.Ref{Scope: c.surface.Scope, RequestID: c.requestID, Method: gsp.MethodVerifyOtp, Fingerprint: req.Fingerprint()},
		SendRequestID: req.SendOtpRequestID,
		SendMethod:    gsp.MethodSendOtp,
		Code:          req.OTP,
	})
	if err != nil {
		return reply{}, domainError(err, "sendOtpRequestId", req.SendOtpRequestID)
	}
	s.cfg.Metrics.lockedOut(c.method, out)
	result, ok := legacyVerifyResults[out.Result]
	if !ok {
		return reply{}, errors.New("server: no verifyOtp result code for " + out.Result)
	}
	return reply{result: string(result), body: gsp.VerifyOtpResponse{
		ResponseHeader:               gsp.LegacyResponseHeader{ResponseTimestamp: gsp.MillisOf(s.cfg.Now())},
		PaymentIntegratorVerifyOtpID: out.ReplyID,
		Result:                       result,
	}}, nil
}

func (s *Server) echo(_ context.Context, c *call, plaintext []byte) (reply, error) {
	req, gerr := gsp.DecodeEcho(plaintext, s.limits(c))
	if gerr != nil {
		return reply{}, gerr
	}
	c.requestID = req.RequestHeader.RequestID
	return reply{result: "ECHO", body: gsp.EchoResponse{
		ResponseHeader: gsp.LegacyResponseHeader{ResponseTimestamp: gsp.MillisOf(s.cfg.Now())},
		ClientMessage:  req.ClientMessage,
		ServerMessage:  "otpgate call " + c.id,
	}}, nil
}

// domainError maps the domain's non-result errors to ErrorResponses; anything
// else stays an error and becomes a 503. field and value name the identifier
// an unknown-identifier error is about.
func domainError(err error, field, value string) error {
	switch {
	case errors.Is(err, otp.ErrUnknownAssociation):
		return gsp.Errorf(gsp.InvalidIdentifier, "%s %q is not known", field, value)
	case errors.Is(err, otp.ErrUnknownSend):
		return gsp.Errorf(gsp.InvalidIdentifier, "%s %q does not name a request whose code was sent", field, value)
	case errors.Is(err, otp.ErrSendFailed):
		return gsp.Unavailable("the SMS provider did not accept the message; retry with the same requestId")
	case errors.Is(err, otp.ErrIdempotency):
		return gsp.Errorf(gsp.IdempotencyViolation, "requestId was already used on this method with a different payload")
	case errors.Is(err, otp.ErrInFlight):
		return gsp.Unavailable("the same requestId is still being processed; retry it")
	}
	return err
}
