package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashLedger is what the clients of TestE2ECrashUnderLoad were answered:
// every acknowledged answer, to replay after the crashes, and every code
// that a verifyOtp answered SUCCESS for.
type crashLedger struct {
	mu      sync.Mutex
	answers []crashAnswer
	// verified counts the SUCCESS answers per sendOtp requestId: never
	// more than one, across every crash.
	verified map[string]int
	codes    map[string]string // the code of each sendOtp answered SUCCESS
}

// crashAnswer is one 200 a client got: the request, sent again after the
// crashes, must get the same answer.
type crashAnswer struct {
	path string
	body map[string]any
	got  e2eResponse
}

func (l *crashLedger) add(path string, body map[string]any, r e2eResponse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers = append(l.answers, crashAnswer{path, body, r})
}

// crashClient runs flows for one account (its own phone) until stop: a
// sendOtp, its code from the gateway, a verifyOtp. Answers that are not 200
// (503s while the server is killed, transport errors) are not acknowledged
// and prove nothing; every 200 goes in the ledger.
func crashClient(t *testing.T, p *e2eProc, gw *e2eGateway, l *crashLedger, client, round int, stop <-chan struct{}) {
	phone := fmt.Sprintf("+9198765%05d", client)
	account := map[string]any{"associationId": fmt.Sprintf("as-%d", client)}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		sendID := fmt.Sprintf("c%d-r%d-s%d", client, round, i)
		body := sendOtpBody(sendID, account)
		r, err := p.post("/v1/sendOtp", body)
		if err != nil || r.status != http.StatusOK {
			continue
		}
		l.add("/v1/sendOtp", body, r)
		if r.str("result") != "SUCCESS" {
			t.Errorf("sendOtp %s: %s", sendID, r.raw)
			return
		}
		code := gw.lastCodeTo(t, phone)
		l.mu.Lock()
		l.codes[sendID] = code
		l.mu.Unlock()
		verifyID := fmt.Sprintf("c%d-r%d-v%d", client, round, i)
		vbody := verifyOtpBody(verifyID, sendID, code)
		r, err = p.post("/v1/verifyOtp", vbody)
		if err != nil || r.status != http.StatusOK {
			continue
		}
		l.add("/v1/verifyOtp", vbody, r)
		if r.str("result") == "SUCCESS" {
			l.mu.Lock()
			l.verified[sendID]++
			l.mu.Unlock()
		}
	}
}

// lastCodeTo is the code of the newest SMS to phone.
func (g *e2eGateway) lastCodeTo(t *testing.T, phone string) string {
	msgs := g.messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == phone {
			return smsCode(t, msgs[i].Text)
		}
	}
	t.Fatalf("no SMS to %s", phone)
	return ""
}

// writerBatches reads the SQLite writer's counters from /metrics: batches
// and the units they held.
func writerBatches(t *testing.T, p *e2eProc) (batches, units float64) {
	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "otpgate_sqlite_writer_batches_total":
			batches = v
		case "otpgate_sqlite_writer_units_total":
			units = v
		}
	}
	return batches, units
}

// TestE2ECrashUnderLoad kills the server with SIGKILL, in a loop, while
// clients run flows on it: the writer is committing batches of several
// requests' transactions (group commit) when the kill comes. After each
// restart, every answer a client got replays identically without a new SMS,
// no code verified before a crash verifies again, and the database is whole.
// Bounded: about 4 rounds of under a second of load each.
func TestE2ECrashUnderLoad(t *testing.T) {
	t.Parallel()
	const clients, rounds = 8, 4
	gw := newGateway(t, false, 0)
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	var accounts strings.Builder
	for c := range clients {
		fmt.Fprintf(&accounts, `{"accountId":"A%d","phone":"+9198765%05d","status":"active","associationIds":["as-%d"]}`+"\n", c, c, c)
	}
	importAccounts(t, dataDir, writeFile(t, tmp, "accounts.jsonl", accounts.String()))
	args := []string{"--insecure-plaintext", "--data-dir", dataDir, "--sms-http-url", gw.URL,
		"--send-limit", "1000000/1s", "--fail-limit", "1000000/1s", "--max-in-flight", "64"}
	l := &crashLedger{verified: map[string]int{}, codes: map[string]string{}}
	var grouped bool // some batch held more than one unit
	for round := range rounds {
		p := e2eServe(t, nil, args...)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				crashClient(t, p, gw, l, c, round, stop)
			}()
		}
		time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
		if b, u := writerBatches(t, p); u > b {
			grouped = true
		}
		p.kill() // mid-load: the writer is in a batch, or between two
		close(stop)
		wg.Wait()
	}
	if !grouped {
		t.Error("no batch of the writer held two units: the kills never hit a group commit")
	}
	p := e2eServe(t, nil, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.answers) < rounds*clients {
		t.Fatalf("only %d answers in %d rounds: the load did not run", len(l.answers), rounds)
	}
	// A code answered SUCCESS is used up for good: a verifyOtp of it with a
	// fresh requestId is refused, whatever the crashes did. (Before the
	// replays, which would consume again a code whose consumption was lost.)
	for sendID, n := range l.verified {
		if n != 1 {
			t.Errorf("the code of %s verified %d times", sendID, n)
		}
		r := p.verifyOtp("again-"+sendID, sendID, l.codes[sendID])
		if r.status != http.StatusOK || r.str("result") == "SUCCESS" {
			t.Errorf("the code of %s, verified before a crash, verified again after: HTTP %d %s", sendID, r.status, r.raw)
		}
	}
	sent := len(gw.messages())
	for _, a := range l.answers {
		r := p.mustPost(a.path, a.body)
		if r.status != a.got.status || answerOf(r) != answerOf(a.got) {
			t.Errorf("%s %v after the crashes: got HTTP %d %s, first answered HTTP %d %s",
				a.path, a.body["requestHeader"], r.status, r.raw, a.got.status, a.got.raw)
		}
	}
	if n := len(gw.messages()) - sent; n != 0 {
		t.Errorf("replaying acknowledged answers sent %d SMS: their records were lost and taken over", n)
	}
	t.Logf("%d acknowledged answers replayed after %d kills; %d codes verified", len(l.answers), rounds, len(l.verified))
	p.kill()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, databaseFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check after the crashes: %q (%v)", integrity, err)
	}
}

// answerOf is a response without its responseHeader, whose timestamp is the
// time of each answer: what replays identically is the rest.
func answerOf(r e2eResponse) string {
	body := map[string]any{}
	for k, v := range r.body {
		if k != "responseHeader" {
			body[k] = v
		}
	}
	b, _ := json.Marshal(body) // sorted keys
	return string(b)
}
