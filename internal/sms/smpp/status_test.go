package smpp

import "testing"

func TestKindOf(t *testing.T) {
	tests := []struct {
		op     CommandID
		status Status
		want   Kind
	}{
		// Try the next provider: the SMSC is busy, broken or confused.
		{SubmitSM, StatusThrottled, TryNext},
		{SubmitSM, StatusMsgQFul, TryNext},
		{SubmitSM, StatusSysErr, TryNext},
		{SubmitSM, StatusSubmitFail, TryNext},
		{SubmitSM, StatusTempAppErr, TryNext},
		{SubmitSM, StatusDeliveryFailure, TryNext},
		{SubmitSM, StatusUnknownErr, TryNext},
		{SubmitSM, StatusInvBndSts, TryNext},
		{SubmitSM, StatusInvCmdID, TryNext},
		{SubmitSM, StatusInvCmdLen, TryNext},
		{SubmitSM, 0x400, TryNext}, // vendor-specific: unknown, so try elsewhere
		{SubmitSM, 0x123, TryNext},
		// The message itself is refused.
		{SubmitSM, StatusInvDstAdr, Rejected},
		{SubmitSM, StatusInvSrcAdr, Rejected},
		{SubmitSM, StatusInvMsgLen, Rejected},
		{SubmitSM, StatusInvDstTON, Rejected},
		{SubmitSM, StatusInvSrcNPI, Rejected},
		{SubmitSM, StatusPermAppErr, Rejected},
		{SubmitSM, StatusRejAppErr, Rejected},
		{SubmitSM, StatusInvOptParamVal, Rejected}, // a DLT TLV the SMSC refuses
		{SubmitSM, StatusMissingOptParam, Rejected},
		// The account is misconfigured.
		{BindTransceiver, StatusInvPaswd, ConfigError},
		{BindTransmitter, StatusBindFail, ConfigError},
		{BindTransceiver, StatusInvSysID, ConfigError},
		{BindTransceiver, StatusInvSysTyp, ConfigError},
		{SubmitSM, StatusInvSysTyp, ConfigError},
		// A bind refused for a passing reason is retried.
		{BindTransceiver, StatusAlyBnd, TryNext},
		{BindTransceiver, StatusSysErr, TryNext},
		{BindTransceiver, StatusThrottled, TryNext},
	}
	for _, tt := range tests {
		if got := KindOf(tt.op, tt.status); got != tt.want {
			t.Errorf("KindOf(%s, %s) = %s, want %s", tt.op, tt.status, got, tt.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{
		StatusOK:        "ESME_ROK",
		StatusThrottled: "ESME_RTHROTTLED",
		StatusInvPaswd:  "ESME_RINVPASWD",
		StatusInvDstAdr: "ESME_RINVDSTADR",
		0x0401:          "vendor-specific error 0x401",
		0x0200:          "reserved error 0x200",
		0x0009:          "status 0x9",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(0x%X).String() = %q, want %q", uint32(s), got, want)
		}
	}
	// Every named status has a name and a kind.
	for s := Status(0); s < 0x100; s++ {
		if s.name() != "" && KindOf(SubmitSM, s) == 0 {
			t.Errorf("%s has no kind", s)
		}
	}
}
