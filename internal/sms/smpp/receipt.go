package smpp

import (
	"fmt"
	"strings"
	"time"
)

// MessageState is the final state of a message (SMPP 3.4 §5.2.28), carried
// by the message_state TLV and, as text, by the stat: field of a receipt.
type MessageState byte

// The message states of §5.2.28.
const (
	StateUnknownValue  MessageState = 0 // no state found in the receipt
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

// String returns the state's name in the receipt's stat: spelling
// (Appendix B): "DELIVRD", "UNDELIV", …
func (s MessageState) String() string {
	switch s {
	case StateEnroute:
		return "ENROUTE"
	case StateDelivered:
		return "DELIVRD"
	case StateExpired:
		return "EXPIRED"
	case StateDeleted:
		return "DELETED"
	case StateUndeliverable:
		return "UNDELIV"
	case StateAccepted:
		return "ACCEPTD"
	case StateUnknown:
		return "UNKNOWN"
	case StateRejected:
		return "REJECTD"
	}
	return fmt.Sprintf("state %d", byte(s))
}

// Final reports whether the state is an outcome rather than a step.
func (s MessageState) Final() bool {
	switch s {
	case StateDelivered, StateExpired, StateDeleted, StateUndeliverable, StateRejected:
		return true
	}
	return false
}

func stateFromStat(stat string) MessageState {
	for s := StateEnroute; s <= StateRejected; s++ {
		if strings.EqualFold(stat, s.String()) {
			return s
		}
	}
	switch strings.ToUpper(stat) { // spellings some SMSCs use
	case "DELIVERED":
		return StateDelivered
	case "UNDELIVERABLE", "FAILED":
		return StateUndeliverable
	case "REJECTED":
		return StateRejected
	case "ACCEPTED":
		return StateAccepted
	}
	return StateUnknownValue
}

// Receipt is a delivery receipt, from the deliver_sm an SMSC sends when a
// message's fate is known.
type Receipt struct {
	// MessageID is the id that submit_sm_resp returned: from the
	// receipted_message_id TLV when there is one, else from the text's id:
	// field (some SMSCs write it there in decimal where submit_sm_resp had
	// hexadecimal; the TLV is the one to trust).
	MessageID string
	State     MessageState // from message_state, else from stat:
	// The fields of the receipt text (SMPP 3.4 Appendix B), as written.
	// Stat is the text's own spelling; Err is the network or SMSC error.
	TextID, Sub, Dlvrd, Stat, Err, Text string
	// SubmitDate and DoneDate, when the text has them in the usual
	// YYMMDDhhmm[ss] form, read as UTC: the format carries no zone.
	SubmitDate, DoneDate time.Time
	// NetworkError is the network_error_code TLV (network type, then
	// error code), nil without one.
	NetworkError []byte
	// Source is the handset the message went to (the receipt comes from
	// it); Dest is our source address.
	Source, Dest Address
	// Intermediate is set for an intermediate notification rather than
	// a final receipt.
	Intermediate bool
}

// ParseReceipt reads a delivery receipt from the body of a deliver_sm. It
// reports false when the deliver_sm is not a receipt: its esm_class says
// neither receipt nor intermediate notification and it has no
// receipted_message_id.
func ParseReceipt(d *SubmitSMBody) (Receipt, bool) {
	typ := d.ESMClass & ESMClassTypeMask
	idTLV, hasID := FindTLV(d.TLVs, TagReceiptedMessageID)
	if typ != ESMClassReceipt && typ != ESMClassIntermediateNote && !hasID {
		return Receipt{}, false
	}
	r := Receipt{Source: d.Source, Dest: d.Dest, Intermediate: typ == ESMClassIntermediateNote}
	// The receipt text is ASCII in practice; read it octet by octet so that
	// an SMSC that wrote it in GSM 03.38 or Latin-1 still parses.
	text := DecodeText(0xFF, d.ShortMessage)
	if d.DataCoding == CodingUCS2 {
		text = DecodeUCS2(d.ShortMessage)
	} else if p, ok := FindTLV(d.TLVs, TagMessagePayload); ok && len(d.ShortMessage) == 0 {
		text = DecodeText(0xFF, p.Value)
	}
	f := receiptFields(text)
	r.TextID, r.Sub, r.Dlvrd, r.Stat, r.Err, r.Text = f["id"], f["sub"], f["dlvrd"], f["stat"], f["err"], f["text"]
	r.SubmitDate = receiptTime(f["submit date"])
	r.DoneDate = receiptTime(f["done date"])

	r.MessageID = r.TextID
	if hasID {
		r.MessageID = idTLV.CString()
	}
	r.State = stateFromStat(r.Stat)
	if st, ok := FindTLV(d.TLVs, TagMessageState); ok && len(st.Value) == 1 {
		r.State = MessageState(st.Value[0])
	}
	if ne, ok := FindTLV(d.TLVs, TagNetworkErrorCode); ok {
		r.NetworkError = ne.Value
	}
	return r, true
}

// receiptFields splits "id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm
// done date:YYMMDDhhmm stat:DDDDDDD err:E text:…" into its fields. Keys are
// matched without regard to case, at the start of the text or after a
// space; a value runs to the next key. text: runs to the end, whatever it
// holds. A key missing from the text is missing from the map.
func receiptFields(s string) map[string]string {
	lower := strings.ToLower(s)
	type hit struct {
		key       string
		at, value int
	}
	var hits []hit
	textAt := len(s)
	if i := keyIndex(lower, "text"); i >= 0 {
		textAt = i
		hits = append(hits, hit{"text", i, i + len("text:")})
	}
	for _, k := range []string{"id", "sub", "dlvrd", "submit date", "done date", "stat", "err"} {
		if i := keyIndex(lower[:textAt], k); i >= 0 {
			hits = append(hits, hit{k, i, i + len(k) + 1})
		}
	}
	// Order by position: each value ends where the next key starts.
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j].at < hits[j-1].at; j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	f := make(map[string]string, len(hits))
	for i, h := range hits {
		end := len(s)
		if i+1 < len(hits) {
			end = hits[i+1].at
		}
		v := s[h.value:end]
		if h.key != "text" {
			v = strings.TrimSpace(v)
		}
		f[h.key] = v
	}
	return f
}

// keyIndex finds "key:" at the start of s or after a space.
func keyIndex(s, key string) int {
	k := key + ":"
	for from := 0; ; {
		i := strings.Index(s[from:], k)
		if i < 0 {
			return -1
		}
		i += from
		if i == 0 || s[i-1] == ' ' {
			return i
		}
		from = i + 1
	}
}

// receiptTime reads YYMMDDhhmm or YYMMDDhhmmss as UTC.
func receiptTime(v string) time.Time {
	var layout string
	switch len(v) {
	case 10:
		layout = "0601021504"
	case 12:
		layout = "060102150405"
	default:
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, v, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}
