// Package audit keeps a tamper-evident trail of security-relevant events:
// one JSON object per line, each carrying the SHA-256 of the line before it,
// so that an edit, a deletion or a reordering anywhere breaks the chain at
// that record. It knows nothing of OTPs: callers name the events and give
// their fields, and are responsible for keeping secrets out of them.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Record is one line of an audit log.
type Record struct {
	// Seq numbers the records of a chain from 1, without gaps, across the
	// files the chain is rotated through.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Event names what happened, e.g. "otp.sent", "audit.opened".
	Event string `json:"event"`
	// Prev is the hex SHA-256 of the exact bytes of the previous record's
	// line (without its newline); "" for the first record of a chain.
	Prev string `json:"prev"`
	// Fields are the event's details, a JSON object.
	Fields json.RawMessage `json:"fields,omitempty"`
}

// Fields is what callers usually give an event: a JSON object of names to
// values. encoding/json writes a map's keys sorted, so a record's bytes do
// not depend on map iteration order.
type Fields map[string]any

// OpenedEvent is the record that starts every run of a writer and every file
// a chain is rotated into. Its fields say why (Reason*), which file the
// chain continues from (when another), and what torn write, if any, it
// recovered from.
const OpenedEvent = "audit.opened"

// The reasons of an OpenedEvent.
const (
	ReasonStart  = "start"  // a process opened the log
	ReasonSize   = "size"   // the file reached its maximum size
	ReasonSignal = "signal" // the operator asked (SIGHUP)
	ReasonRepair = "repair" // a write failed, and the log was reopened
)

// The fields of an OpenedEvent.
const (
	fieldReason       = "reason"
	fieldPreviousFile = "previousFile"
	fieldTornBytes    = "tornBytes"
	fieldTornSHA256   = "tornSha256"
)

// hashLine is the chain's hash of a record's line, without its newline.
func hashLine(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// parseRecord reads one line strictly: a JSON object of Record's members
// and nothing else.
func parseRecord(line []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, err
	}
	if dec.More() {
		return Record{}, fmt.Errorf("more than one JSON value on the line")
	}
	if r.Seq == 0 || r.Event == "" || r.Time.IsZero() {
		return Record{}, fmt.Errorf("seq, time and event are required")
	}
	if r.Prev != "" && len(r.Prev) != 2*sha256.Size {
		return Record{}, fmt.Errorf("prev is not a SHA-256 in hex")
	}
	if len(r.Fields) > 0 && r.Fields[0] != '{' {
		return Record{}, fmt.Errorf("fields is not a JSON object")
	}
	return r, nil
}

// marshal is the line of r, without its newline.
func (r Record) marshal() ([]byte, error) {
	return json.Marshal(r)
}
