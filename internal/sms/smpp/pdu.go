// Package smpp is an SMPP 3.4 client (an ESME) that sends one-time passwords
// through an SMSC or an SMS aggregator: a PDU codec small enough to check
// against the specification's byte layouts, and a [Client] that keeps a bind
// alive and implements sms.Sender.
//
// Only what an OTP sender needs is implemented: bind_transceiver and
// bind_transmitter, unbind, enquire_link, submit_sm with optional TLVs,
// deliver_sm for delivery receipts, and generic_nack, each with its _resp.
package smpp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// CommandID is the command_id of a PDU (SMPP 3.4 §5.1.2.1).
type CommandID uint32

// The commands this package encodes and decodes. A response's id is its
// request's with the high bit set.
const (
	GenericNack         CommandID = 0x80000000
	BindReceiver        CommandID = 0x00000001
	BindReceiverResp    CommandID = 0x80000001
	BindTransmitter     CommandID = 0x00000002
	BindTransmitterResp CommandID = 0x80000002
	SubmitSM            CommandID = 0x00000004
	SubmitSMResp        CommandID = 0x80000004
	DeliverSM           CommandID = 0x00000005
	DeliverSMResp       CommandID = 0x80000005
	Unbind              CommandID = 0x00000006
	UnbindResp          CommandID = 0x80000006
	BindTransceiver     CommandID = 0x00000009
	BindTransceiverResp CommandID = 0x80000009
	EnquireLink         CommandID = 0x00000015
	EnquireLinkResp     CommandID = 0x80000015
	AlertNotification   CommandID = 0x00000102 // a request without a response
)

// IsResponse reports whether id is a response (or generic_nack).
func (id CommandID) IsResponse() bool { return id&0x80000000 != 0 }

func (id CommandID) String() string {
	switch id {
	case GenericNack:
		return "generic_nack"
	case BindReceiver:
		return "bind_receiver"
	case BindReceiverResp:
		return "bind_receiver_resp"
	case BindTransmitter:
		return "bind_transmitter"
	case BindTransmitterResp:
		return "bind_transmitter_resp"
	case SubmitSM:
		return "submit_sm"
	case SubmitSMResp:
		return "submit_sm_resp"
	case DeliverSM:
		return "deliver_sm"
	case DeliverSMResp:
		return "deliver_sm_resp"
	case Unbind:
		return "unbind"
	case UnbindResp:
		return "unbind_resp"
	case BindTransceiver:
		return "bind_transceiver"
	case BindTransceiverResp:
		return "bind_transceiver_resp"
	case EnquireLink:
		return "enquire_link"
	case EnquireLinkResp:
		return "enquire_link_resp"
	case AlertNotification:
		return "alert_notification"
	}
	return fmt.Sprintf("command 0x%08X", uint32(id))
}

// Sizes of the SMPP 3.4 wire format. The maxima of C-octet strings count the
// terminating NUL, as the specification's tables do.
const (
	HeaderLen = 16
	// MaxPDULen bounds the command_length this package reads. The largest
	// PDU it handles is a submit_sm or deliver_sm: well under 1 KiB of
	// mandatory fields, plus TLVs (a message_payload up to 64 KiB).
	MaxPDULen = 70 << 10

	InterfaceVersion = 0x34 // SMPP 3.4

	MaxSystemIDLen     = 16
	MaxPasswordLen     = 9
	MaxSystemTypeLen   = 13
	MaxAddressRangeLen = 41
	MaxServiceTypeLen  = 6
	MaxAddrLen         = 21 // source_addr and destination_addr of submit_sm / deliver_sm
	MaxTimeLen         = 17 // schedule_delivery_time, validity_period: empty or 16 characters
	MaxMessageIDLen    = 65
	MaxShortMessageLen = 254 // sm_length
)

// ErrMalformed is wrapped by the errors of [Decode] and [ReadPDU] for bytes
// that are not a well-formed PDU.
var ErrMalformed = errors.New("smpp: malformed PDU")

// PDU is one SMPP protocol data unit. Body is nil for the commands without
// one (enquire_link, unbind, their responses, generic_nack) and for a
// response whose command_status is not 0 and that carries no body, as SMPP
// 3.4 allows; otherwise it is one of *Bind, *BindResp, *SubmitSMBody (for
// submit_sm and deliver_sm), *MessageIDResp (for submit_sm_resp and
// deliver_sm_resp).
type PDU struct {
	Command  CommandID
	Status   Status
	Sequence uint32
	Body     any
}

// Bind is the body of bind_transmitter, bind_receiver and bind_transceiver
// (SMPP 3.4 §4.1.1).
type Bind struct {
	SystemID         string
	Password         string
	SystemType       string
	InterfaceVersion byte
	AddrTON, AddrNPI byte
	AddressRange     string
}

// BindResp is the body of the bind responses (§4.1.2): the SMSC's system_id
// and, optionally, the sc_interface_version TLV.
type BindResp struct {
	SystemID string
	TLVs     []TLV
}

// Address is an SME address with its type of number and numbering plan.
type Address struct {
	TON, NPI byte
	Addr     string
}

// Common TON and NPI values (§5.2.5, §5.2.6).
const (
	TONUnknown       = 0x00
	TONInternational = 0x01
	TONNational      = 0x02
	TONAlphanumeric  = 0x05
	NPIUnknown       = 0x00
	NPIISDN          = 0x01 // E.163/E.164
)

// data_coding values (§5.2.19) that this package produces.
const (
	CodingDefault = 0x00 // SMSC default alphabet: GSM 03.38, one septet per octet
	CodingUCS2    = 0x08 // ISO/IEC 10646 UCS-2, big-endian
)

// registered_delivery values (§5.2.17).
const (
	ReceiptNone    = 0x00
	ReceiptAlways  = 0x01 // SMSC delivery receipt on final outcome, success or failure
	ReceiptFailure = 0x02
)

// esm_class message types of a deliver_sm (§5.2.12, bits 5-2).
const (
	ESMClassTypeMask         = 0x3C
	ESMClassReceipt          = 0x04 // SMSC delivery receipt
	ESMClassIntermediateNote = 0x20 // intermediate delivery notification
)

// SubmitSMBody is the body of submit_sm (§4.4.1) and of deliver_sm (§4.6.1),
// whose mandatory fields are the same.
type SubmitSMBody struct {
	ServiceType          string
	Source               Address
	Dest                 Address
	ESMClass             byte
	ProtocolID           byte
	PriorityFlag         byte
	ScheduleDeliveryTime string
	ValidityPeriod       string
	RegisteredDelivery   byte
	ReplaceIfPresent     byte
	DataCoding           byte
	SMDefaultMsgID       byte
	ShortMessage         []byte
	TLVs                 []TLV
}

// MessageIDResp is the body of submit_sm_resp (§4.4.2) and deliver_sm_resp
// (§4.6.2, where message_id is unused and empty).
type MessageIDResp struct {
	MessageID string
}

// TLV is an optional parameter (§3.2.4, §5.3). Value is the raw octets;
// [TLV.CString] and [CStringTLV] help with the C-octet string values.
type TLV struct {
	Tag   uint16
	Value []byte
}

// Tags of the optional parameters this package reads or that OTP senders
// commonly set.
const (
	TagReceiptedMessageID = 0x001E // C-octet string, up to 65
	TagNetworkErrorCode   = 0x0423 // 3 octets: network type, error code
	TagMessagePayload     = 0x0424
	TagMessageState       = 0x0427 // 1 octet
	TagSCInterfaceVersion = 0x0210

	// India DLT: what aggregators commonly use for the entity id (PE ID)
	// and the content template id. Not part of SMPP; configurable.
	TagDLTEntityID   = 0x1400
	TagDLTTemplateID = 0x1401
)

// CStringTLV returns a TLV whose value is s followed by a NUL, the form of
// SMPP's C-octet string TLVs (receipted_message_id, for example).
func CStringTLV(tag uint16, s string) TLV {
	return TLV{Tag: tag, Value: append([]byte(s), 0)}
}

// CString returns the value with one trailing NUL removed, if there is one.
func (t TLV) CString() string {
	v := t.Value
	if n := len(v); n > 0 && v[n-1] == 0 {
		v = v[:n-1]
	}
	return string(v)
}

// FindTLV returns the first TLV with the tag.
func FindTLV(tlvs []TLV, tag uint16) (TLV, bool) {
	for _, t := range tlvs {
		if t.Tag == tag {
			return t, true
		}
	}
	return TLV{}, false
}

// Encode returns the wire form of p, its command_length computed. It checks
// the lengths of every field against the specification and refuses a Body
// that does not belong to p.Command.
func Encode(p PDU) ([]byte, error) {
	b := make([]byte, HeaderLen, 64)
	binary.BigEndian.PutUint32(b[4:], uint32(p.Command))
	binary.BigEndian.PutUint32(b[8:], uint32(p.Status))
	binary.BigEndian.PutUint32(b[12:], p.Sequence)
	var err error
	switch body := p.Body.(type) {
	case nil:
		if !bodyless(p.Command) && p.Status == StatusOK {
			return nil, fmt.Errorf("smpp: encode %s: missing body", p.Command)
		}
	case *Bind:
		if !isBind(p.Command) {
			return nil, mismatch(p.Command, body)
		}
		b, err = body.appendTo(b)
	case *BindResp:
		if !isBindResp(p.Command) {
			return nil, mismatch(p.Command, body)
		}
		b, err = body.appendTo(b)
	case *SubmitSMBody:
		if p.Command != SubmitSM && p.Command != DeliverSM {
			return nil, mismatch(p.Command, body)
		}
		b, err = body.appendTo(b)
	case *MessageIDResp:
		if p.Command != SubmitSMResp && p.Command != DeliverSMResp {
			return nil, mismatch(p.Command, body)
		}
		b, err = appendCString(b, "message_id", body.MessageID, MaxMessageIDLen)
	default:
		return nil, fmt.Errorf("smpp: encode %s: unsupported body %T", p.Command, p.Body)
	}
	if err != nil {
		return nil, fmt.Errorf("smpp: encode %s: %w", p.Command, err)
	}
	if len(b) > MaxPDULen {
		return nil, fmt.Errorf("smpp: encode %s: %d octets, over the limit of %d", p.Command, len(b), MaxPDULen)
	}
	binary.BigEndian.PutUint32(b[0:], uint32(len(b)))
	return b, nil
}

func mismatch(id CommandID, body any) error {
	return fmt.Errorf("smpp: encode %s: body %T belongs to another command", id, body)
}

func bodyless(id CommandID) bool {
	switch id {
	case GenericNack, Unbind, UnbindResp, EnquireLink, EnquireLinkResp:
		return true
	}
	return false
}

func isBind(id CommandID) bool {
	return id == BindTransceiver || id == BindTransmitter || id == BindReceiver
}

func isBindResp(id CommandID) bool {
	return id == BindTransceiverResp || id == BindTransmitterResp || id == BindReceiverResp
}

func (p *Bind) appendTo(b []byte) ([]byte, error) {
	var err error
	if b, err = appendCString(b, "system_id", p.SystemID, MaxSystemIDLen); err != nil {
		return nil, err
	}
	if b, err = appendCString(b, "password", p.Password, MaxPasswordLen); err != nil {
		return nil, err
	}
	if b, err = appendCString(b, "system_type", p.SystemType, MaxSystemTypeLen); err != nil {
		return nil, err
	}
	b = append(b, p.InterfaceVersion, p.AddrTON, p.AddrNPI)
	return appendCString(b, "address_range", p.AddressRange, MaxAddressRangeLen)
}

func (p *BindResp) appendTo(b []byte) ([]byte, error) {
	b, err := appendCString(b, "system_id", p.SystemID, MaxSystemIDLen)
	if err != nil {
		return nil, err
	}
	return appendTLVs(b, p.TLVs)
}

func (p *SubmitSMBody) appendTo(b []byte) ([]byte, error) {
	var err error
	if b, err = appendCString(b, "service_type", p.ServiceType, MaxServiceTypeLen); err != nil {
		return nil, err
	}
	b = append(b, p.Source.TON, p.Source.NPI)
	if b, err = appendCString(b, "source_addr", p.Source.Addr, MaxAddrLen); err != nil {
		return nil, err
	}
	b = append(b, p.Dest.TON, p.Dest.NPI)
	if b, err = appendCString(b, "destination_addr", p.Dest.Addr, MaxAddrLen); err != nil {
		return nil, err
	}
	b = append(b, p.ESMClass, p.ProtocolID, p.PriorityFlag)
	for _, f := range []struct{ name, v string }{
		{"schedule_delivery_time", p.ScheduleDeliveryTime},
		{"validity_period", p.ValidityPeriod},
	} {
		if f.v != "" && len(f.v) != MaxTimeLen-1 {
			return nil, fmt.Errorf("%s: %d characters, must be empty or %d", f.name, len(f.v), MaxTimeLen-1)
		}
		if b, err = appendCString(b, f.name, f.v, MaxTimeLen); err != nil {
			return nil, err
		}
	}
	if len(p.ShortMessage) > MaxShortMessageLen {
		return nil, fmt.Errorf("short_message: %d octets, over the limit of %d", len(p.ShortMessage), MaxShortMessageLen)
	}
	b = append(b, p.RegisteredDelivery, p.ReplaceIfPresent, p.DataCoding, p.SMDefaultMsgID, byte(len(p.ShortMessage)))
	b = append(b, p.ShortMessage...)
	return appendTLVs(b, p.TLVs)
}

// appendCString appends s and its NUL; max counts the NUL.
func appendCString(b []byte, field, s string, max int) ([]byte, error) {
	if len(s) >= max {
		return nil, fmt.Errorf("%s: %d octets, over the limit of %d", field, len(s), max-1)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, fmt.Errorf("%s: contains NUL", field)
		}
	}
	b = append(b, s...)
	return append(b, 0), nil
}

func appendTLVs(b []byte, tlvs []TLV) ([]byte, error) {
	for _, t := range tlvs {
		if len(t.Value) > 0xFFFF {
			return nil, fmt.Errorf("TLV 0x%04X: %d octets, over the limit of 65535", t.Tag, len(t.Value))
		}
		b = binary.BigEndian.AppendUint16(b, t.Tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}

// ReadPDU reads one PDU from r: its command_length, then the rest. It refuses
// a command_length under 16 or over [MaxPDULen] before reading the rest, so
// that a peer cannot make it allocate at will. The stream cannot be
// resynchronised after such an error: the connection must be closed.
func ReadPDU(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n < HeaderLen || n > MaxPDULen {
		return nil, fmt.Errorf("%w: command_length %d, outside [%d, %d]", ErrMalformed, n, HeaderLen, MaxPDULen)
	}
	b := make([]byte, n)
	copy(b, head[:])
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// Decode parses one whole PDU. When the header is readable but the body is
// not, it returns the PDU with its header fields set, a nil Body and an
// error wrapping [ErrMalformed], so that the caller can answer the sequence
// number with generic_nack. An unknown command id is not an error: the PDU
// comes back with a nil Body.
func Decode(b []byte) (PDU, error) {
	if len(b) < HeaderLen {
		return PDU{}, fmt.Errorf("%w: %d octets, shorter than the header", ErrMalformed, len(b))
	}
	if n := binary.BigEndian.Uint32(b); int64(n) != int64(len(b)) {
		return PDU{}, fmt.Errorf("%w: command_length %d, but %d octets", ErrMalformed, n, len(b))
	}
	p := PDU{
		Command:  CommandID(binary.BigEndian.Uint32(b[4:])),
		Status:   Status(binary.BigEndian.Uint32(b[8:])),
		Sequence: binary.BigEndian.Uint32(b[12:]),
	}
	d := decoder{b: b[HeaderLen:]}
	var body interface{ decode(*decoder) }
	switch {
	case bodyless(p.Command):
		if len(d.b) != 0 {
			return p, fmt.Errorf("%w: %s: %d octets of body, want none", ErrMalformed, p.Command, len(d.b))
		}
		return p, nil
	case isBind(p.Command):
		body = &Bind{}
	case isBindResp(p.Command):
		body = &BindResp{}
	case p.Command == SubmitSM || p.Command == DeliverSM:
		body = &SubmitSMBody{}
	case p.Command == SubmitSMResp || p.Command == DeliverSMResp:
		body = &MessageIDResp{}
	default:
		return p, nil
	}
	if p.Command.IsResponse() && p.Status != StatusOK && len(d.b) == 0 {
		return p, nil // SMPP 3.4 omits the body of a failed response
	}
	body.decode(&d)
	if d.err != nil {
		return p, fmt.Errorf("%w: %s: %w", ErrMalformed, p.Command, d.err)
	}
	p.Body = body
	return p, nil
}

// decoder reads fields in order; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
	d.b = nil
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("%s: truncated", field)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// cstring reads a NUL-terminated string of at most max octets, NUL included.
func (d *decoder) cstring(field string, max int) string {
	if d.err != nil {
		return ""
	}
	for i := 0; i < len(d.b) && i < max; i++ {
		if d.b[i] == 0 {
			s := string(d.b[:i])
			d.b = d.b[i+1:]
			return s
		}
	}
	if len(d.b) < max {
		d.fail("%s: no NUL terminator", field)
	} else {
		d.fail("%s: longer than %d octets", field, max-1)
	}
	return ""
}

func (d *decoder) octets(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("%s: %d octets announced, %d left", field, n, len(d.b))
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

// tlvs reads TLVs to the end of the body.
func (d *decoder) tlvs() []TLV {
	var tlvs []TLV
	for d.err == nil && len(d.b) > 0 {
		if len(d.b) < 4 {
			d.fail("TLV: %d octets left, shorter than a tag and length", len(d.b))
			return nil
		}
		tag := binary.BigEndian.Uint16(d.b)
		n := int(binary.BigEndian.Uint16(d.b[2:]))
		d.b = d.b[4:]
		v := d.octets(fmt.Sprintf("TLV 0x%04X", tag), n)
		tlvs = append(tlvs, TLV{Tag: tag, Value: v})
	}
	if d.err != nil {
		return nil
	}
	return tlvs
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d octets after the last field", len(d.b))
	}
}

func (p *Bind) decode(d *decoder) {
	p.SystemID = d.cstring("system_id", MaxSystemIDLen)
	p.Password = d.cstring("password", MaxPasswordLen)
	p.SystemType = d.cstring("system_type", MaxSystemTypeLen)
	p.InterfaceVersion = d.byte("interface_version")
	p.AddrTON = d.byte("addr_ton")
	p.AddrNPI = d.byte("addr_npi")
	p.AddressRange = d.cstring("address_range", MaxAddressRangeLen)
	d.end()
}

func (p *BindResp) decode(d *decoder) {
	p.SystemID = d.cstring("system_id", MaxSystemIDLen)
	p.TLVs = d.tlvs()
}

func (p *SubmitSMBody) decode(d *decoder) {
	p.ServiceType = d.cstring("service_type", MaxServiceTypeLen)
	p.Source.TON = d.byte("source_addr_ton")
	p.Source.NPI = d.byte("source_addr_npi")
	p.Source.Addr = d.cstring("source_addr", MaxAddrLen)
	p.Dest.TON = d.byte("dest_addr_ton")
	p.Dest.NPI = d.byte("dest_addr_npi")
	p.Dest.Addr = d.cstring("destination_addr", MaxAddrLen)
	p.ESMClass = d.byte("esm_class")
	p.ProtocolID = d.byte("protocol_id")
	p.PriorityFlag = d.byte("priority_flag")
	p.ScheduleDeliveryTime = d.cstring("schedule_delivery_time", MaxTimeLen)
	p.ValidityPeriod = d.cstring("validity_period", MaxTimeLen)
	p.RegisteredDelivery = d.byte("registered_delivery")
	p.ReplaceIfPresent = d.byte("replace_if_present_flag")
	p.DataCoding = d.byte("data_coding")
	p.SMDefaultMsgID = d.byte("sm_default_msg_id")
	n := d.byte("sm_length")
	p.ShortMessage = d.octets("short_message", int(n))
	p.TLVs = d.tlvs()
}

func (p *MessageIDResp) decode(d *decoder) {
	p.MessageID = d.cstring("message_id", MaxMessageIDLen)
	// SMPP 3.4 defines no TLVs here; later versions do. Ignore them.
	d.tlvs()
}
