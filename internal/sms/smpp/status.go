package smpp

import (
	"fmt"

	"github.com/otpgate/otpgate/internal/sms"
)

// Status is a command_status (SMPP 3.4 §5.1.3).
type Status uint32

// The command_status values of SMPP 3.4 §5.1.3.
const (
	StatusOK               Status = 0x00000000 // ESME_ROK
	StatusInvMsgLen        Status = 0x00000001 // ESME_RINVMSGLEN
	StatusInvCmdLen        Status = 0x00000002 // ESME_RINVCMDLEN
	StatusInvCmdID         Status = 0x00000003 // ESME_RINVCMDID
	StatusInvBndSts        Status = 0x00000004 // ESME_RINVBNDSTS
	StatusAlyBnd           Status = 0x00000005 // ESME_RALYBND
	StatusInvPrtFlg        Status = 0x00000006 // ESME_RINVPRTFLG
	StatusInvRegDlvFlg     Status = 0x00000007 // ESME_RINVREGDLVFLG
	StatusSysErr           Status = 0x00000008 // ESME_RSYSERR
	StatusInvSrcAdr        Status = 0x0000000A // ESME_RINVSRCADR
	StatusInvDstAdr        Status = 0x0000000B // ESME_RINVDSTADR
	StatusInvMsgID         Status = 0x0000000C // ESME_RINVMSGID
	StatusBindFail         Status = 0x0000000D // ESME_RBINDFAIL
	StatusInvPaswd         Status = 0x0000000E // ESME_RINVPASWD
	StatusInvSysID         Status = 0x0000000F // ESME_RINVSYSID
	StatusCancelFail       Status = 0x00000011 // ESME_RCANCELFAIL
	StatusReplaceFail      Status = 0x00000013 // ESME_RREPLACEFAIL
	StatusMsgQFul          Status = 0x00000014 // ESME_RMSGQFUL
	StatusInvSerTyp        Status = 0x00000015 // ESME_RINVSERTYP
	StatusInvNumDests      Status = 0x00000033 // ESME_RINVNUMDESTS
	StatusInvDLName        Status = 0x00000034 // ESME_RINVDLNAME
	StatusInvDestFlag      Status = 0x00000040 // ESME_RINVDESTFLAG
	StatusInvSubRep        Status = 0x00000042 // ESME_RINVSUBREP
	StatusInvEsmClass      Status = 0x00000043 // ESME_RINVESMCLASS
	StatusCntSubDL         Status = 0x00000044 // ESME_RCNTSUBDL
	StatusSubmitFail       Status = 0x00000045 // ESME_RSUBMITFAIL
	StatusInvSrcTON        Status = 0x00000048 // ESME_RINVSRCTON
	StatusInvSrcNPI        Status = 0x00000049 // ESME_RINVSRCNPI
	StatusInvDstTON        Status = 0x00000050 // ESME_RINVDSTTON
	StatusInvDstNPI        Status = 0x00000051 // ESME_RINVDSTNPI
	StatusInvSysTyp        Status = 0x00000053 // ESME_RINVSYSTYP
	StatusInvRepFlag       Status = 0x00000054 // ESME_RINVREPFLAG
	StatusInvNumMsgs       Status = 0x00000055 // ESME_RINVNUMMSGS
	StatusThrottled        Status = 0x00000058 // ESME_RTHROTTLED
	StatusInvSched         Status = 0x00000061 // ESME_RINVSCHED
	StatusInvExpiry        Status = 0x00000062 // ESME_RINVEXPIRY
	StatusInvDftMsgID      Status = 0x00000063 // ESME_RINVDFTMSGID
	StatusTempAppErr       Status = 0x00000064 // ESME_RX_T_APPN
	StatusPermAppErr       Status = 0x00000065 // ESME_RX_P_APPN
	StatusRejAppErr        Status = 0x00000066 // ESME_RX_R_APPN
	StatusQueryFail        Status = 0x00000067 // ESME_RQUERYFAIL
	StatusInvOptParStream  Status = 0x000000C0 // ESME_RINVOPTPARSTREAM
	StatusOptParNotAllwd   Status = 0x000000C1 // ESME_ROPTPARNOTALLWD
	StatusInvParLen        Status = 0x000000C2 // ESME_RINVPARLEN
	StatusMissingOptParam  Status = 0x000000C3 // ESME_RMISSINGOPTPARAM
	StatusInvOptParamVal   Status = 0x000000C4 // ESME_RINVOPTPARAMVAL
	StatusDeliveryFailure  Status = 0x000000FE // ESME_RDELIVERYFAILURE
	StatusUnknownErr       Status = 0x000000FF // ESME_RUNKNOWNERR
	statusVendorFirst      Status = 0x00000400 // SMSC vendor specific errors: 0x400-0x4FF
	statusVendorLast       Status = 0x000004FF
	statusReservedBoundary Status = 0x00000100 // 0x100-0x3FF are reserved in 3.4
)

// Kind says what a failure means for the message and the provider: the
// router's own classes (sms.Class), so that it treats every provider alike.
type Kind = sms.Class

// The kinds of failure, as this package's SMPP statuses mean them.
const (
	// TryNext: this attempt failed, and another provider, or this one a
	// little later, may well succeed (throttling, a full queue, a system
	// error, a timeout, a lost or refused connection).
	TryNext = sms.ClassTryNext
	// Rejected: the SMSC refused the message for what it is (its
	// destination, source, length, coding or TLVs). Do not retry it.
	Rejected = sms.ClassRejected
	// ConfigError: the SMSC refused the bind (system id, password, system
	// type) or an option of ours: nothing sent through this provider will
	// go until an operator changes its configuration. Do not retry here.
	ConfigError = sms.ClassConfigError
)

// KindOf classifies the command_status of a response to op (a submit_sm or
// a bind). Statuses this table does not name, vendor-specific ones
// included, are TryNext: when in doubt, let another provider try, since a
// user without the code is worse than a second provider's attempt.
func KindOf(op CommandID, s Status) Kind {
	if isBind(op) {
		switch s {
		case StatusBindFail, StatusInvPaswd, StatusInvSysID, StatusInvSysTyp:
			return ConfigError
		}
		return TryNext
	}
	switch s {
	case StatusInvMsgLen, StatusInvSrcAdr, StatusInvDstAdr, StatusInvSrcTON, StatusInvSrcNPI,
		StatusInvDstTON, StatusInvDstNPI, StatusInvEsmClass, StatusInvPrtFlg, StatusInvRegDlvFlg,
		StatusInvSched, StatusInvExpiry, StatusInvDftMsgID, StatusInvRepFlag, StatusInvSerTyp,
		StatusPermAppErr, StatusRejAppErr, StatusInvOptParStream, StatusOptParNotAllwd,
		StatusInvParLen, StatusMissingOptParam, StatusInvOptParamVal:
		return Rejected
	case StatusInvSysTyp, StatusBindFail, StatusInvPaswd, StatusInvSysID:
		return ConfigError
	}
	// StatusSysErr, StatusMsgQFul, StatusThrottled, StatusSubmitFail,
	// StatusTempAppErr, StatusDeliveryFailure, StatusUnknownErr,
	// StatusInvBndSts and StatusAlyBnd (the session is confused: a fresh
	// bind may fix it), StatusInvCmdLen and StatusInvCmdID (this SMSC did
	// not understand us; another may), and everything unnamed.
	return TryNext
}

// String returns the specification's name of s, e.g. "ESME_RTHROTTLED", or
// its number.
func (s Status) String() string {
	if n := s.name(); n != "" {
		return n
	}
	switch {
	case s >= statusVendorFirst && s <= statusVendorLast:
		return fmt.Sprintf("vendor-specific error 0x%X", uint32(s))
	case s >= statusReservedBoundary:
		return fmt.Sprintf("reserved error 0x%X", uint32(s))
	}
	return fmt.Sprintf("status 0x%X", uint32(s))
}

func (s Status) name() string {
	switch s {
	case StatusOK:
		return "ESME_ROK"
	case StatusInvMsgLen:
		return "ESME_RINVMSGLEN"
	case StatusInvCmdLen:
		return "ESME_RINVCMDLEN"
	case StatusInvCmdID:
		return "ESME_RINVCMDID"
	case StatusInvBndSts:
		return "ESME_RINVBNDSTS"
	case StatusAlyBnd:
		return "ESME_RALYBND"
	case StatusInvPrtFlg:
		return "ESME_RINVPRTFLG"
	case StatusInvRegDlvFlg:
		return "ESME_RINVREGDLVFLG"
	case StatusSysErr:
		return "ESME_RSYSERR"
	case StatusInvSrcAdr:
		return "ESME_RINVSRCADR"
	case StatusInvDstAdr:
		return "ESME_RINVDSTADR"
	case StatusInvMsgID:
		return "ESME_RINVMSGID"
	case StatusBindFail:
		return "ESME_RBINDFAIL"
	case StatusInvPaswd:
		return "ESME_RINVPASWD"
	case StatusInvSysID:
		return "ESME_RINVSYSID"
	case StatusCancelFail:
		return "ESME_RCANCELFAIL"
	case StatusReplaceFail:
		return "ESME_RREPLACEFAIL"
	case StatusMsgQFul:
		return "ESME_RMSGQFUL"
	case StatusInvSerTyp:
		return "ESME_RINVSERTYP"
	case StatusInvNumDests:
		return "ESME_RINVNUMDESTS"
	case StatusInvDLName:
		return "ESME_RINVDLNAME"
	case StatusInvDestFlag:
		return "ESME_RINVDESTFLAG"
	case StatusInvSubRep:
		return "ESME_RINVSUBREP"
	case StatusInvEsmClass:
		return "ESME_RINVESMCLASS"
	case StatusCntSubDL:
		return "ESME_RCNTSUBDL"
	case StatusSubmitFail:
		return "ESME_RSUBMITFAIL"
	case StatusInvSrcTON:
		return "ESME_RINVSRCTON"
	case StatusInvSrcNPI:
		return "ESME_RINVSRCNPI"
	case StatusInvDstTON:
		return "ESME_RINVDSTTON"
	case StatusInvDstNPI:
		return "ESME_RINVDSTNPI"
	case StatusInvSysTyp:
		return "ESME_RINVSYSTYP"
	case StatusInvRepFlag:
		return "ESME_RINVREPFLAG"
	case StatusInvNumMsgs:
		return "ESME_RINVNUMMSGS"
	case StatusThrottled:
		return "ESME_RTHROTTLED"
	case StatusInvSched:
		return "ESME_RINVSCHED"
	case StatusInvExpiry:
		return "ESME_RINVEXPIRY"
	case StatusInvDftMsgID:
		return "ESME_RINVDFTMSGID"
	case StatusTempAppErr:
		return "ESME_RX_T_APPN"
	case StatusPermAppErr:
		return "ESME_RX_P_APPN"
	case StatusRejAppErr:
		return "ESME_RX_R_APPN"
	case StatusQueryFail:
		return "ESME_RQUERYFAIL"
	case StatusInvOptParStream:
		return "ESME_RINVOPTPARSTREAM"
	case StatusOptParNotAllwd:
		return "ESME_ROPTPARNOTALLWD"
	case StatusInvParLen:
		return "ESME_RINVPARLEN"
	case StatusMissingOptParam:
		return "ESME_RMISSINGOPTPARAM"
	case StatusInvOptParamVal:
		return "ESME_RINVOPTPARAMVAL"
	case StatusDeliveryFailure:
		return "ESME_RDELIVERYFAILURE"
	case StatusUnknownErr:
		return "ESME_RUNKNOWNERR"
	}
	return ""
}
