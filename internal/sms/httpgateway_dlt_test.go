package sms

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHTTPSenderDLTFields: an Indian aggregator's HTTP API takes the DLT
// entity id, template id and header as body fields beside the text.
func TestHTTPSenderDLTFields(t *testing.T) {
	dlt := &DLT{EntityID: xyzEntityID, TemplateID: xyzCardTID, Header: xyzHeader}
	withDLT := Message{To: testPhone, Text: "482913 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank", DLT: dlt}
	tests := []struct {
		name        string
		contentType string
		body        string
		m           Message
		want        string
	}{
		{
			name: "JSON", body: `{"to":{to},"text":{text},"pe_id":{dlt_entity_id},"template_id":{dlt_template_id},"sender":{sender}}`, m: withDLT,
			want: `{"to":"+919876543210","text":"482913 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank",` +
				`"pe_id":"1101234567890123456","template_id":"1107161234567890123","sender":"XYZBNK"}`,
		},
		{
			name: "JSON, a message without DLT", body: `{"to":{to},"text":{text},"pe_id":{dlt_entity_id},"template_id":{dlt_template_id},"sender":{sender}}`,
			m:    testMessage,
			want: `{"to":"+919876543210","text":"AB12345678C\nYour verification code is 482913.","pe_id":"","template_id":"","sender":""}`,
		},
		{
			name: "form", contentType: "application/x-www-form-urlencoded",
			body: "mobile={to}&msg={text}&entityid={dlt_entity_id}&tempid={dlt_template_id}&sender={sender}", m: withDLT,
			want: "mobile=%2B919876543210&msg=482913+is+your+OTP+for+txn+of+INR+728.00+on+card+ending+4321.+Do+not+share+it.+-XYZ+Bank" +
				"&entityid=1101234567890123456&tempid=1107161234567890123&sender=XYZBNK",
		},
		{
			name: "a header without ids", contentType: "application/x-www-form-urlencoded",
			body: "to={to}&text={text}&from={sender}", m: Message{To: testPhone, Text: "x", DLT: &DLT{Header: "XYZBNK"}},
			want: "to=%2B919876543210&text=x&from=XYZBNK",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, http.StatusOK)
			s, err := NewHTTPSender(HTTPConfig{URL: g.URL, BodyTemplate: tt.body, ContentType: tt.contentType}, nil)
			if err != nil {
				t.Fatalf("NewHTTPSender() error = %v", err)
			}
			if err := s.Send(context.Background(), tt.m); err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			reqs := g.Requests()
			if len(reqs) != 1 {
				t.Fatalf("gateway got %d requests, want 1", len(reqs))
			}
			if diff := cmp.Diff(tt.want, reqs[0].Body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewHTTPSenderDLTPlaceholders(t *testing.T) {
	const base = "https://sms.example.com/send"
	for _, tt := range []struct {
		name    string
		cfg     HTTPConfig
		wantErr string // "" means accepted
	}{
		{name: "all three in JSON", cfg: HTTPConfig{URL: base, BodyTemplate: `{"to":{to},"text":{text},"dlt":{"pe":{dlt_entity_id},"tid":{dlt_template_id}},"from":{sender}}`}},
		{name: "the entity id as a JSON key", cfg: HTTPConfig{URL: base, BodyTemplate: `{"to":{to},"text":{text},{dlt_entity_id}:1}`}, wantErr: "not inside a value"},
		{name: "the template id quoted twice", cfg: HTTPConfig{URL: base, BodyTemplate: `{"to":{to},"text":{text},"tid":"{dlt_template_id}"}`}, wantErr: "not valid JSON"},
		{name: "the sender as a form key", cfg: HTTPConfig{URL: base, ContentType: "application/x-www-form-urlencoded", BodyTemplate: "to={to}&text={text}&{sender}=1"}, wantErr: "not inside a value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHTTPSender(tt.cfg, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("NewHTTPSender() error = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("NewHTTPSender() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
