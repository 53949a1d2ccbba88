package smpp

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSMSC is an SMPP server for the fault tests, written with this
// package's codec (which TestLayouts pins to the specification): each
// accepted connection is handed to handle in a goroutine of its own.
type fakeSMSC struct {
	t        *testing.T
	ln       net.Listener
	accepted atomic.Int32

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newFakeSMSC(t *testing.T, handle func(s *fakeSession)) *fakeSMSC {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFake(t, ln, handle)
}

func serveFake(t *testing.T, ln net.Listener, handle func(s *fakeSession)) *fakeSMSC {
	f := &fakeSMSC{t: t, ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := f.accepted.Add(1)
			f.mu.Lock()
			f.conns = append(f.conns, nc)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer nc.Close()
				if tc, ok := nc.(*tls.Conn); ok {
					if err := tc.Handshake(); err != nil {
						return
					}
				}
				handle(&fakeSession{t: t, nc: nc, r: bufio.NewReader(nc), n: int(n)})
			}()
		}
	}()
	t.Cleanup(f.close)
	return f
}

func (f *fakeSMSC) addr() string { return f.ln.Addr().String() }

func (f *fakeSMSC) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// fakeSession is one connection to the fake SMSC.
type fakeSession struct {
	t   *testing.T
	nc  net.Conn
	r   *bufio.Reader
	n   int // 1 for the first connection accepted, 2 for the next…
	seq uint32
	wmu sync.Mutex
}

// read returns the next PDU, or an error once the connection ends.
func (s *fakeSession) read() (PDU, error) {
	raw, err := ReadPDU(s.r)
	if err != nil {
		return PDU{}, err
	}
	return Decode(raw)
}

// readTimeout is read with a deadline; a timeout returns errIdle.
func (s *fakeSession) readTimeout(d time.Duration) (PDU, error) {
	_ = s.nc.SetReadDeadline(time.Now().Add(d))
	defer s.nc.SetReadDeadline(time.Time{})
	p, err := s.read()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return PDU{}, errIdle
	}
	return p, err
}

var errIdle = errors.New("idle")

func (s *fakeSession) write(p PDU) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b, err := Encode(p)
	if err != nil {
		s.t.Errorf("fake SMSC: encode %s: %v", p.Command, err)
		return
	}
	_, _ = s.nc.Write(b)
}

// request sends a request of the SMSC's own, with its next sequence number.
func (s *fakeSession) request(p PDU) uint32 {
	s.seq++
	p.Sequence = s.seq
	s.write(p)
	return p.Sequence
}

// requestRaw sends a header-only request of a command this package does
// not encode, with the SMSC's next sequence number.
func (s *fakeSession) requestRaw(id CommandID) uint32 {
	s.seq++
	b := binary.BigEndian.AppendUint32(nil, HeaderLen)
	b = binary.BigEndian.AppendUint32(b, uint32(id))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, s.seq)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, _ = s.nc.Write(b)
	return s.seq
}

// bind reads the bind and answers it with status, reporting the bind.
func (s *fakeSession) bind(status Status) (PDU, bool) {
	p, err := s.read()
	if err != nil {
		s.t.Errorf("fake SMSC: reading the bind: %v", err)
		return PDU{}, false
	}
	if !isBind(p.Command) {
		s.t.Errorf("fake SMSC: first PDU %s, want a bind", p.Command)
		return p, false
	}
	resp := PDU{Command: p.Command | GenericNack, Status: status, Sequence: p.Sequence}
	if status == StatusOK {
		resp.Body = &BindResp{SystemID: "fake"}
	}
	s.write(resp)
	return p, status == StatusOK
}

// serve answers enquire_link and unbind, and hands every submit_sm to
// onSubmit, whose PDU (if its Command is not 0) answers it; it returns when
// the connection ends or after answering an unbind. Other PDUs go to other,
// when set.
func (s *fakeSession) serve(onSubmit func(PDU) PDU, other func(PDU)) {
	for {
		p, err := s.read()
		if err != nil {
			return
		}
		switch p.Command {
		case EnquireLink:
			s.write(PDU{Command: EnquireLinkResp, Sequence: p.Sequence})
		case Unbind:
			s.write(PDU{Command: UnbindResp, Sequence: p.Sequence})
			return
		case SubmitSM:
			if resp := onSubmit(p); resp.Command != 0 {
				resp.Sequence = p.Sequence
				s.write(resp)
			}
		default:
			if other != nil {
				other(p)
			}
		}
	}
}

// accept answers a submit_sm with message id id.
func accept(id string) PDU {
	return PDU{Command: SubmitSMResp, Body: &MessageIDResp{MessageID: id}}
}

// refuse answers a submit_sm with an error status and no body.
func refuse(s Status) PDU {
	return PDU{Command: SubmitSMResp, Status: s}
}
