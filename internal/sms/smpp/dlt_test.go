package smpp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/otpgate/otpgate/internal/sms"
)

// Send maps a message's India DLT ids: the header to an alphanumeric
// source, the ids to the configured TLVs, replacing Config.TLVs of the same
// tags and keeping the others.
func TestSendDLT(t *testing.T) {
	submits := make(chan PDU, 4)
	f := newFakeSMSC(t, func(s *fakeSession) {
		if _, ok := s.bind(StatusOK); !ok {
			return
		}
		s.serve(func(p PDU) PDU {
			submits <- p
			return accept("id")
		}, nil)
	})
	const (
		entity   = "1101234567890123456"
		template = "1107161234567890123"
	)
	configSource := Address{TON: TONInternational, NPI: NPIISDN, Addr: "15550001111"}
	for _, tc := range []struct {
		name       string
		tags       [2]uint16 // configured entity and template tags; 0: the default
		configTLVs []TLV
		dlt        *sms.DLT
		wantSource Address
		wantTLVs   []TLV
	}{
		{"no DLT", [2]uint16{}, []TLV{{Tag: 0x1500, Value: []byte("x")}}, nil,
			configSource, []TLV{{Tag: 0x1500, Value: []byte("x")}}},
		{"default tags", [2]uint16{}, nil, &sms.DLT{EntityID: entity, TemplateID: template, Header: "XYZBNK"},
			Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: "XYZBNK"},
			[]TLV{{Tag: 0x1400, Value: []byte(entity)}, {Tag: 0x1401, Value: []byte(template)}}},
		{"configured tags replace the account's", [2]uint16{0x1500, 0x1501},
			[]TLV{{Tag: 0x1500, Value: []byte("account default")}, {Tag: 0x0005, Value: []byte{1}}},
			&sms.DLT{EntityID: entity, TemplateID: template},
			configSource,
			[]TLV{{Tag: 0x0005, Value: []byte{1}}, {Tag: 0x1500, Value: []byte(entity)}, {Tag: 0x1501, Value: []byte(template)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(f.addr())
			cfg.Source = configSource
			cfg.DLTEntityIDTag, cfg.DLTTemplateIDTag = tc.tags[0], tc.tags[1]
			cfg.TLVs = tc.configTLVs
			c := newClient(t, cfg)
			err := within(t, 5*time.Second, func() error {
				return c.Send(context.Background(), sms.Message{To: testTo, Text: testText, Flow: sms.FlowLegacy, DLT: tc.dlt})
			})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			body := (<-submits).Body.(*SubmitSMBody)
			if body.Source != tc.wantSource {
				t.Errorf("source %+v, want %+v", body.Source, tc.wantSource)
			}
			if diff := cmp.Diff(tc.wantTLVs, body.TLVs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("TLVs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigDLTTags(t *testing.T) {
	cfg := testConfig("127.0.0.1:2775")
	cfg.DLTTemplateIDTag = TagDLTEntityID
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "same tag 0x1400") {
		t.Errorf("Validate with both DLT ids in one tag: %v", err)
	}
	cfg.DLTTemplateIDTag = 0x1402
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
