package smpp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// wire turns the hex of a PDU, written as the specification lays it out
// (spaces, line breaks and // comments ignored), into bytes.
func wire(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "//")
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// The byte layouts below are written by hand from SMPP 3.4 (issue 1.2,
// 1999): §3.2 (header), §4.1 (bind), §4.2 (unbind), §4.3 (generic_nack),
// §4.4 (submit_sm), §4.6 (deliver_sm), §4.11 (enquire_link), §5.3 (TLVs).
var layoutTests = []struct {
	name string
	pdu  PDU
	wire string
}{
	{
		name: "bind_transceiver",
		pdu: PDU{Command: BindTransceiver, Sequence: 1, Body: &Bind{
			SystemID: "otpgate", Password: "secret", InterfaceVersion: 0x34,
		}},
		wire: `
			00000024 // command_length 36
			00000009 // command_id bind_transceiver
			00000000 // command_status
			00000001 // sequence_number
			6f 74 70 67 61 74 65 00 // system_id "otpgate"
			73 65 63 72 65 74 00    // password "secret"
			00 // system_type ""
			34 // interface_version 3.4
			00 // addr_ton
			00 // addr_npi
			00 // address_range ""`,
	},
	{
		name: "bind_transmitter with system_type and TON/NPI",
		pdu: PDU{Command: BindTransmitter, Sequence: 2, Body: &Bind{
			SystemID: "otpgate", Password: "secret", SystemType: "OTP", InterfaceVersion: 0x34, AddrTON: 1, AddrNPI: 1,
		}},
		wire: `
			00000027 00000002 00000000 00000002
			6f 74 70 67 61 74 65 00
			73 65 63 72 65 74 00
			4f 54 50 00 // system_type "OTP"
			34 01 01 00`,
	},
	{
		name: "bind_transceiver_resp with sc_interface_version",
		pdu: PDU{Command: BindTransceiverResp, Sequence: 1, Body: &BindResp{
			SystemID: "SMSC", TLVs: []TLV{{Tag: TagSCInterfaceVersion, Value: []byte{0x34}}},
		}},
		wire: `
			0000001a 80000009 00000000 00000001
			53 4d 53 43 00 // system_id "SMSC"
			0210 0001 34   // sc_interface_version 3.4`,
	},
	{
		name: "bind_transceiver_resp ESME_RINVPASWD, no body",
		pdu:  PDU{Command: BindTransceiverResp, Status: StatusInvPaswd, Sequence: 1},
		wire: `00000010 80000009 0000000e 00000001`,
	},
	{
		name: "enquire_link",
		pdu:  PDU{Command: EnquireLink, Sequence: 7},
		wire: `00000010 00000015 00000000 00000007`,
	},
	{
		name: "enquire_link_resp",
		pdu:  PDU{Command: EnquireLinkResp, Sequence: 7},
		wire: `00000010 80000015 00000000 00000007`,
	},
	{
		name: "unbind",
		pdu:  PDU{Command: Unbind, Sequence: 3},
		wire: `00000010 00000006 00000000 00000003`,
	},
	{
		name: "unbind_resp",
		pdu:  PDU{Command: UnbindResp, Sequence: 3},
		wire: `00000010 80000006 00000000 00000003`,
	},
	{
		name: "generic_nack ESME_RINVCMDID",
		pdu:  PDU{Command: GenericNack, Status: StatusInvCmdID, Sequence: 5},
		wire: `00000010 80000000 00000003 00000005`,
	},
	{
		name: "submit_sm with DLT TLVs",
		pdu: PDU{Command: SubmitSM, Sequence: 9, Body: &SubmitSMBody{
			Source:             Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: "OTPGTE"},
			Dest:               Address{TON: TONInternational, NPI: NPIISDN, Addr: "919876543210"},
			RegisteredDelivery: ReceiptAlways,
			DataCoding:         CodingDefault,
			ShortMessage:       []byte("Hi"),
			TLVs: []TLV{
				{Tag: TagDLTEntityID, Value: []byte("1234")},
				{Tag: TagDLTTemplateID, Value: []byte("56")},
			},
		}},
		wire: `
			00000043 00000004 00000000 00000009 // 67 octets
			00                         // service_type ""
			05 00 4f 54 50 47 54 45 00 // source TON 5, NPI 0, "OTPGTE"
			01 01 39 31 39 38 37 36 35 34 33 32 31 30 00 // dest TON 1, NPI 1, "919876543210"
			00 00 00 // esm_class, protocol_id, priority_flag
			00       // schedule_delivery_time ""
			00       // validity_period ""
			01       // registered_delivery: receipt
			00       // replace_if_present_flag
			00       // data_coding: SMSC default alphabet
			00       // sm_default_msg_id
			02 48 69 // sm_length 2, "Hi"
			1400 0004 31 32 33 34 // TLV 0x1400 "1234"
			1401 0002 35 36       // TLV 0x1401 "56"`,
	},
	{
		name: "submit_sm UCS-2 with schedule and validity",
		pdu: PDU{Command: SubmitSM, Sequence: 10, Body: &SubmitSMBody{
			ServiceType:          "OTP",
			Source:               Address{TON: 1, NPI: 1, Addr: "1"},
			Dest:                 Address{TON: 1, NPI: 1, Addr: "2"},
			PriorityFlag:         1,
			ScheduleDeliveryTime: "000000000100000R",
			ValidityPeriod:       "000000000500000R",
			DataCoding:           CodingUCS2,
			ShortMessage:         []byte{0x09, 0x39}, // U+0939 DEVANAGARI LETTER HA
		}},
		wire: `
			00000048 00000004 00000000 0000000a
			4f 54 50 00    // service_type "OTP"
			01 01 31 00    // source
			01 01 32 00    // destination
			00 00 01       // esm_class, protocol_id, priority_flag 1
			30 30 30 30 30 30 30 30 30 31 30 30 30 30 30 52 00 // "000000000100000R"
			30 30 30 30 30 30 30 30 30 35 30 30 30 30 30 52 00 // "000000000500000R"
			00 00 08 00    // registered_delivery, replace, data_coding UCS-2, default msg
			02 09 39       // sm_length 2, U+0939`,
	},
	{
		name: "submit_sm_resp",
		pdu:  PDU{Command: SubmitSMResp, Sequence: 9, Body: &MessageIDResp{MessageID: "msg-1"}},
		wire: `
			00000016 80000004 00000000 00000009
			6d 73 67 2d 31 00 // message_id "msg-1"`,
	},
	{
		name: "submit_sm_resp ESME_RTHROTTLED, no body",
		pdu:  PDU{Command: SubmitSMResp, Status: StatusThrottled, Sequence: 9},
		wire: `00000010 80000004 00000058 00000009`,
	},
	{
		name: "deliver_sm delivery receipt",
		pdu: PDU{Command: DeliverSM, Sequence: 16, Body: &SubmitSMBody{
			Source:       Address{TON: TONInternational, NPI: NPIISDN, Addr: "919876543210"},
			Dest:         Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: "OTPGTE"},
			ESMClass:     ESMClassReceipt,
			ShortMessage: []byte("id:msg-1 stat:DELIVRD err:000"),
			TLVs: []TLV{
				CStringTLV(TagReceiptedMessageID, "msg-1"),
				{Tag: TagMessageState, Value: []byte{byte(StateDelivered)}},
			},
		}},
		wire: `
			0000005f 00000005 00000000 00000010 // 95 octets
			00
			01 01 39 31 39 38 37 36 35 34 33 32 31 30 00 // source: the handset
			05 00 4f 54 50 47 54 45 00                   // destination: our sender id
			04 00 00 // esm_class: SMSC delivery receipt
			00 00    // schedule_delivery_time, validity_period
			00 00 00 00
			1d // sm_length 29
			69 64 3a 6d 73 67 2d 31 20 73 74 61 74 3a 44 45 4c 49 56 52 44 20 65 72 72 3a 30 30 30
			001e 0006 6d 73 67 2d 31 00 // receipted_message_id "msg-1"
			0427 0001 02                // message_state DELIVERED`,
	},
	{
		name: "deliver_sm_resp",
		pdu:  PDU{Command: DeliverSMResp, Sequence: 16, Body: &MessageIDResp{}},
		wire: `00000011 80000005 00000000 00000010 00`,
	},
}

func TestLayouts(t *testing.T) {
	for _, tt := range layoutTests {
		t.Run(tt.name, func(t *testing.T) {
			want := wire(t, tt.wire)
			got, err := Encode(tt.pdu)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode:\n got %x\nwant %x", got, want)
			}
			p, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.pdu, p, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			// And through ReadPDU, as the session reads them, with the
			// next PDU's bytes behind.
			r := bytes.NewReader(append(append([]byte(nil), want...), want...))
			for range 2 {
				raw, err := ReadPDU(r)
				if err != nil || !bytes.Equal(raw, want) {
					t.Fatalf("ReadPDU = %x, %v", raw, err)
				}
			}
			if _, err := ReadPDU(r); err != io.EOF {
				t.Errorf("ReadPDU at the end: %v, want EOF", err)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name string
		want string
		wire string
		// The header must still come back, so that a generic_nack can
		// answer the sequence number.
		header bool
	}{
		{name: "shorter than a header", want: "shorter than the header", wire: `0000000f 00000015 00000000 000000`},
		{name: "command_length disagrees", want: "command_length 17, but 16 octets", wire: `00000011 00000015 00000000 00000001`},
		{name: "enquire_link with a body", want: "1 octets of body, want none", wire: `00000011 00000015 00000000 00000001 00`, header: true},
		{name: "system_id without NUL", want: "system_id: no NUL terminator", wire: `00000014 00000009 00000000 00000001 6f747067`, header: true},
		{name: "system_id over 15 octets", want: "system_id: longer than 15 octets", wire: `00000021 00000009 00000000 00000001 41414141414141414141414141414141 00`, header: true},
		{name: "password over 8 octets", want: "password: longer than 8 octets", wire: `00000021 00000009 00000000 00000001 41 00 313233343536373839 00 00 34 00 00 00`, header: true},
		{name: "bind with trailing octets", want: "1 octets after the last field", wire: `0000001a 00000009 00000000 00000001 41 00 42 00 00 34 00 00 00 ff`, header: true},
		{name: "bind truncated before interface_version", want: "interface_version: truncated", wire: `00000015 00000009 00000000 00000001 41 00 42 00 00`, header: true},
		{name: "sm_length beyond the PDU", want: "short_message: 5 octets announced, 2 left", wire: `00000023 00000004 00000000 00000001 00 0000 00 0000 00 000000 00 00 00000000 05 4869`, header: true},
		{name: "TLV shorter than its header", want: "shorter than a tag and length", wire: `00000026 00000004 00000000 00000001 00 0000 00 0000 00 000000 00 00 00000000 02 4869 140000`, header: true},
		{name: "TLV value beyond the PDU", want: "TLV 0x1400: 4 octets announced, 2 left", wire: `00000029 00000004 00000000 00000001 00 0000 00 0000 00 000000 00 00 00000000 02 4869 1400 0004 3132`, header: true},
		{name: "submit_sm_resp without NUL", want: "message_id: no NUL terminator", wire: `00000013 80000004 00000000 00000009 6d7367`, header: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := wire(t, tt.wire)
			p, err := Decode(b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode = %+v, %v; want ErrMalformed with %q", p, err, tt.want)
			}
			if p.Body != nil {
				t.Errorf("Body = %+v, want nil", p.Body)
			}
			if tt.header && p.Sequence != uint32(b[15]) {
				t.Errorf("Sequence = %d, want the header's %d", p.Sequence, b[15])
			}
		})
	}
}

func TestDecodeUnknownCommand(t *testing.T) {
	// query_sm (0x03) is not implemented: the header comes back, no body,
	// no error, so that the session can answer generic_nack ESME_RINVCMDID.
	p, err := Decode(wire(t, `00000013 00000003 00000000 0000002a 31 00 00`))
	if err != nil {
		t.Fatal(err)
	}
	want := PDU{Command: 0x00000003, Sequence: 42}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := CommandID(3).String(); got != "command 0x00000003" {
		t.Errorf("String = %q", got)
	}
}

func TestReadPDULimits(t *testing.T) {
	for _, tt := range []struct {
		name string
		wire string
		want error
	}{
		{"command_length under the header", `0000000f 00000015 00000000 00000001`, ErrMalformed},
		{"command_length over the limit", `00011801 00000004`, ErrMalformed},
		{"zero command_length", `00000000`, ErrMalformed},
		{"truncated body", `00000016 80000004 00000000 00000009 6d73`, io.ErrUnexpectedEOF},
		{"truncated length", `0000`, io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPDU(bytes.NewReader(wire(t, tt.wire)))
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadPDU: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	sm := func(f func(*SubmitSMBody)) PDU {
		b := &SubmitSMBody{Dest: Address{TON: 1, NPI: 1, Addr: "1"}}
		f(b)
		return PDU{Command: SubmitSM, Body: b}
	}
	tests := []struct {
		name string
		pdu  PDU
		want string
	}{
		{"system_id of 16", PDU{Command: BindTransceiver, Body: &Bind{SystemID: long(16)}}, "system_id: 16 octets, over the limit of 15"},
		{"password of 9", PDU{Command: BindTransceiver, Body: &Bind{SystemID: "a", Password: long(9)}}, "password: 9 octets, over the limit of 8"},
		{"system_type of 13", PDU{Command: BindTransmitter, Body: &Bind{SystemType: long(13)}}, "system_type"},
		{"NUL in system_id", PDU{Command: BindTransceiver, Body: &Bind{SystemID: "a\x00b"}}, "contains NUL"},
		{"short_message of 255", sm(func(b *SubmitSMBody) { b.ShortMessage = make([]byte, 255) }), "short_message: 255 octets"},
		{"destination of 21", sm(func(b *SubmitSMBody) { b.Dest.Addr = long(21) }), "destination_addr"},
		{"source of 21", sm(func(b *SubmitSMBody) { b.Source.Addr = long(21) }), "source_addr"},
		{"service_type of 6", sm(func(b *SubmitSMBody) { b.ServiceType = long(6) }), "service_type"},
		{"validity_period of 12", sm(func(b *SubmitSMBody) { b.ValidityPeriod = "240501120000" }), "validity_period: 12 characters"},
		{"TLV of 65536", sm(func(b *SubmitSMBody) { b.TLVs = []TLV{{Tag: 1, Value: make([]byte, 0x10000)}} }), "TLV 0x0001"},
		{"submit_sm without body", PDU{Command: SubmitSM}, "missing body"},
		{"bind body on submit_sm", PDU{Command: SubmitSM, Body: &Bind{}}, "belongs to another command"},
		{"submit body on deliver_sm_resp", PDU{Command: DeliverSMResp, Body: &SubmitSMBody{}}, "belongs to another command"},
		{"unknown body", PDU{Command: SubmitSM, Body: "text"}, "unsupported body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.pdu)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Encode = %x, %v; want an error with %q", b, err, tt.want)
			}
		})
	}
}

func TestTLVHelpers(t *testing.T) {
	tlv := CStringTLV(TagReceiptedMessageID, "abc")
	if !bytes.Equal(tlv.Value, []byte("abc\x00")) || tlv.CString() != "abc" {
		t.Errorf("CStringTLV = %+v, CString = %q", tlv, tlv.CString())
	}
	if got := (TLV{Value: []byte("abc")}).CString(); got != "abc" {
		t.Errorf("CString without NUL = %q", got)
	}
	tlvs := []TLV{{Tag: 1, Value: []byte("a")}, {Tag: 2, Value: []byte("b")}, {Tag: 2, Value: []byte("c")}}
	if got, ok := FindTLV(tlvs, 2); !ok || string(got.Value) != "b" {
		t.Errorf("FindTLV = %+v, %v; want the first of tag 2", got, ok)
	}
	if _, ok := FindTLV(tlvs, 3); ok {
		t.Error("FindTLV found an absent tag")
	}
}

func FuzzDecode(f *testing.F) {
	for _, tt := range layoutTests {
		f.Add(wire(f, tt.wire))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := ReadPDU(bytes.NewReader(b))
		if err != nil {
			return
		}
		p, err := Decode(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// What decodes re-encodes to the same PDU, unless it is one that
		// Encode refuses (an out-of-range field read leniently).
		enc, err := Encode(p)
		if err != nil {
			return
		}
		q, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", p, err)
		}
		if diff := cmp.Diff(p, q, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
