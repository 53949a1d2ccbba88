package smpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// conn is one TCP (or TLS) connection to the SMSC: a reader goroutine that
// answers the SMSC's requests and hands responses to the requests waiting
// for them by sequence number, and writes serialised by a mutex.
type conn struct {
	c  *Client
	nc net.Conn

	wmu sync.Mutex // one PDU at a time on the wire

	mu      sync.Mutex
	seq     uint32
	pending map[uint32]chan response
	err     error // why the connection ended, once done is closed

	once sync.Once
	done chan struct{}
}

type response struct {
	p   PDU
	err error // a response that did not decode
}

func (c *Client) newConn(nc net.Conn) *conn {
	cn := &conn{c: c, nc: nc, pending: make(map[uint32]chan response), done: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		cn.readLoop()
	}()
	return cn
}

// close ends the connection for the given reason; the first reason stays.
func (cn *conn) close(reason error) {
	cn.once.Do(func() {
		cn.mu.Lock()
		cn.err = reason
		cn.mu.Unlock()
		cn.nc.Close()
		close(cn.done)
	})
}

func (cn *conn) cause() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err
}

// write sends one PDU, within the deadline. A failed or partial write
// leaves the stream out of step, so it ends the connection.
func (cn *conn) write(b []byte, deadline time.Time) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	_ = cn.nc.SetWriteDeadline(deadline)
	if _, err := cn.nc.Write(b); err != nil {
		err = fmt.Errorf("write: %w", err)
		cn.close(err)
		return err
	}
	return nil
}

// request sends p with the next sequence number and waits for its response
// (or a generic_nack with its sequence number). sent reports whether p was
// written in full, after which the SMSC may act on it even though no
// response came.
func (cn *conn) request(ctx context.Context, p PDU) (resp PDU, sent bool, err error) {
	ch := make(chan response, 1)
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		return PDU{}, false, fmt.Errorf("connection lost: %w", err)
	}
	cn.seq = cn.seq%0x7FFFFFFF + 1 // 1 to 0x7FFFFFFF (§5.1.2.4)
	p.Sequence = cn.seq
	cn.pending[p.Sequence] = ch
	cn.mu.Unlock()
	defer func() {
		cn.mu.Lock()
		delete(cn.pending, p.Sequence)
		cn.mu.Unlock()
	}()

	b, err := Encode(p)
	if err != nil {
		return PDU{}, false, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(cn.c.cfg.RequestTimeout)
	}
	if err := cn.write(b, deadline); err != nil {
		return PDU{}, false, err
	}
	select {
	case r := <-ch:
		return r.p, true, r.err
	case <-cn.done:
		select { // a response read just before the end still counts
		case r := <-ch:
			return r.p, true, r.err
		default:
		}
		return PDU{}, true, fmt.Errorf("connection lost: %w", cn.cause())
	case <-ctx.Done():
		return PDU{}, true, ctx.Err()
	}
}

// reply answers a request of the SMSC.
func (cn *conn) reply(p PDU) {
	b, err := Encode(p)
	if err != nil {
		cn.c.log.Error("smpp: cannot encode a reply", "command", p.Command.String(), "error", err)
		return
	}
	_ = cn.write(b, time.Now().Add(cn.c.cfg.RequestTimeout))
}

var errUnbound = errors.New("the SMSC unbound")

func (cn *conn) readLoop() {
	r := bufio.NewReader(cn.nc)
	for {
		raw, err := ReadPDU(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("closed by the SMSC")
			}
			cn.close(err)
			return
		}
		p, err := Decode(raw)
		if p.Command.IsResponse() {
			cn.mu.Lock()
			ch := cn.pending[p.Sequence]
			cn.mu.Unlock()
			if ch == nil {
				cn.c.log.Warn("smpp: response to no request", "command", p.Command.String(), "sequence", p.Sequence)
				continue
			}
			select {
			case ch <- response{p, err}:
			default: // a second response to one request
			}
			continue
		}
		if err != nil {
			cn.c.log.Warn("smpp: malformed request", "command", p.Command.String(), "error", err)
			cn.reply(PDU{Command: GenericNack, Status: StatusInvCmdLen, Sequence: p.Sequence})
			continue
		}
		switch p.Command {
		case EnquireLink:
			cn.reply(PDU{Command: EnquireLinkResp, Sequence: p.Sequence})
		case DeliverSM:
			status := StatusOK
			if rc, ok := ParseReceipt(p.Body.(*SubmitSMBody)); ok {
				status = cn.c.deliver(rc)
			}
			resp := PDU{Command: DeliverSMResp, Status: status, Sequence: p.Sequence}
			if status == StatusOK {
				resp.Body = &MessageIDResp{}
			}
			cn.reply(resp)
		case Unbind:
			cn.reply(PDU{Command: UnbindResp, Sequence: p.Sequence})
			cn.close(errUnbound)
			return
		case AlertNotification: // no response is defined
		default:
			cn.reply(PDU{Command: GenericNack, Status: StatusInvCmdID, Sequence: p.Sequence})
		}
	}
}
