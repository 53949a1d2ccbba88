package sms

import (
	"context"
	"testing"
)

// fakeSubmitter is a fakeProvider that gives each accepted message an id.
type fakeSubmitter struct {
	*fakeProvider
	id string
}

func (s fakeSubmitter) SendID(ctx context.Context, m Message) (string, error) {
	if err := s.Send(ctx, m); err != nil {
		return "", err
	}
	return s.id, nil
}

// TestRouterSubmitReceipt: the receipt names the provider that accepted
// the message, with its id when it gives one, past a failed provider.
func TestRouterSubmitReceipt(t *testing.T) {
	ctx := context.Background()
	msg := Message{To: "+919876543210", Text: "123456"}
	plain := fakes("down", "plain")
	sub := fakeSubmitter{&fakeProvider{name: "smpp-1"}, "msg-7"}
	plain[0].answer(errTryNext)
	r, err := NewRouter(RouterConfig{Providers: []Provider{
		{Sender: plain[0], Classify: classifyFake},
		{Sender: sub, Classify: classifyFake},
		{Sender: plain[1], Classify: classifyFake},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Submit(ctx, r, msg)
	if want := (Receipt{Provider: "smpp-1", MessageID: "msg-7"}); err != nil || got != want {
		t.Errorf("Submit() = %+v, %v; want %+v", got, err, want)
	}

	r = newTestRouter(t, plain[1:], nil)
	if got, err := r.Submit(ctx, msg); err != nil || got != (Receipt{Provider: "plain"}) {
		t.Errorf("Submit() through a provider without ids = %+v, %v; want its name, no id", got, err)
	}
	if got, err := Submit(ctx, sub, msg); err != nil || got != (Receipt{Provider: "smpp-1", MessageID: "msg-7"}) {
		t.Errorf("Submit() on a Submitter = %+v, %v", got, err)
	}
	plain[0].answer(errRejected)
	if got, err := Submit(ctx, plain[0], msg); err == nil || got != (Receipt{}) {
		t.Errorf("Submit() of a refused message = %+v, %v; want no receipt and the error", got, err)
	}
}
