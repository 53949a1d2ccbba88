package smpp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseReceipt(t *testing.T) {
	handset := Address{TON: 1, NPI: 1, Addr: "919876543210"}
	us := Address{TON: 5, NPI: 0, Addr: "OTPGTE"}
	date := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		body SubmitSMBody
		want Receipt
	}{
		{
			name: "SMPP 3.4 Appendix B text with the TLVs",
			body: SubmitSMBody{
				Source: handset, Dest: us, ESMClass: ESMClassReceipt,
				ShortMessage: []byte("id:0123456789 sub:001 dlvrd:001 submit date:2405011200 done date:2405011201 stat:DELIVRD err:000 text:Your code is 123"),
				TLVs: []TLV{
					CStringTLV(TagReceiptedMessageID, "75bcd15"),
					{Tag: TagMessageState, Value: []byte{2}},
					{Tag: TagNetworkErrorCode, Value: []byte{3, 0, 0}},
				},
			},
			want: Receipt{
				MessageID: "75bcd15", State: StateDelivered,
				TextID: "0123456789", Sub: "001", Dlvrd: "001", Stat: "DELIVRD", Err: "000", Text: "Your code is 123",
				SubmitDate: date("2024-05-01 12:00:00"), DoneDate: date("2024-05-01 12:01:00"),
				NetworkError: []byte{3, 0, 0},
				Source:       handset, Dest: us,
			},
		},
		{
			name: "text only, seconds in the dates, Text: capitalised",
			body: SubmitSMBody{
				Source: handset, Dest: us, ESMClass: ESMClassReceipt,
				ShortMessage: []byte("id:abc-1 sub:001 dlvrd:000 submit date:240501120005 done date:240501120107 stat:UNDELIV err:034 Text:id:fake stat:DELIVRD"),
			},
			want: Receipt{
				MessageID: "abc-1", State: StateUndeliverable,
				TextID: "abc-1", Sub: "001", Dlvrd: "000", Stat: "UNDELIV", Err: "034", Text: "id:fake stat:DELIVRD",
				SubmitDate: date("2024-05-01 12:00:05"), DoneDate: date("2024-05-01 12:01:07"),
				Source: handset, Dest: us,
			},
		},
		{
			name: "message_state wins over stat:",
			body: SubmitSMBody{
				ESMClass:     ESMClassReceipt,
				ShortMessage: []byte("id:9 stat:ENROUTE"),
				TLVs:         []TLV{{Tag: TagMessageState, Value: []byte{byte(StateExpired)}}},
			},
			want: Receipt{MessageID: "9", TextID: "9", Stat: "ENROUTE", State: StateExpired},
		},
		{
			name: "receipted_message_id without the esm_class bit",
			body: SubmitSMBody{TLVs: []TLV{CStringTLV(TagReceiptedMessageID, "x")}},
			want: Receipt{MessageID: "x"},
		},
		{
			name: "intermediate notification, unusual spelling, bad date",
			body: SubmitSMBody{
				ESMClass:     ESMClassIntermediateNote | 0x40,
				ShortMessage: []byte("ID:7 submit date:24050112 stat:Delivered"),
			},
			want: Receipt{MessageID: "7", TextID: "7", Stat: "Delivered", State: StateDelivered, Intermediate: true},
		},
		{
			name: "UCS-2 receipt text",
			body: SubmitSMBody{
				ESMClass: ESMClassReceipt, DataCoding: CodingUCS2,
				ShortMessage: EncodeUCS2("id:u1 stat:REJECTD err:001"),
			},
			want: Receipt{MessageID: "u1", TextID: "u1", Stat: "REJECTD", Err: "001", State: StateRejected},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseReceipt(&tt.body)
			if !ok {
				t.Fatal("not a receipt")
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// A mobile-originated message is no receipt.
	if r, ok := ParseReceipt(&SubmitSMBody{ShortMessage: []byte("id:1 stat:DELIVRD")}); ok {
		t.Errorf("an MO message parsed as %+v", r)
	}
}

func TestMessageState(t *testing.T) {
	for s, want := range map[MessageState]string{
		StateEnroute: "ENROUTE", StateDelivered: "DELIVRD", StateExpired: "EXPIRED", StateDeleted: "DELETED",
		StateUndeliverable: "UNDELIV", StateAccepted: "ACCEPTD", StateUnknown: "UNKNOWN", StateRejected: "REJECTD",
		MessageState(9): "state 9",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
		if s <= StateRejected && stateFromStat(want) != s {
			t.Errorf("stateFromStat(%q) = %v", want, stateFromStat(want))
		}
	}
	if !StateDelivered.Final() || StateEnroute.Final() || StateAccepted.Final() {
		t.Error("Final")
	}
}
