package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A name claim is one JetStream publish of the names entry that expects the
// key's last sequence to be 0: an atomic create. jetstream's KeyValue.Create
// makes 14 objects (0.8 KB) more garbage per call than this (publish
// options, a request inbox and its channel, headers, a JSON-decoded ack;
// an exact heap profile of a connect wave). A connect wave makes
// that garbage while the connections' long-lived state is allocated, and the
// spans they share stay part-empty once it is collected: what an idle
// clustered node held per user beyond a lone node's (docs/deploy.md, Memory
// policy). So the create that every new name needs is done here, with one
// reply subscription per node, a reused message and header, and the ack read
// in place. A refusal for the key's last sequence (errLastSeq) means an
// entry, read next (worker.write), or a freed name's delete marker, which
// KeyValue.Create writes over at the marker's revision. Other errors are
// the claim's to retry.

// errLastSeq is a create refused because the key has a last sequence: an
// entry, or the delete marker of a freed name.
var errLastSeq = errors.New("cluster: names entry exists")

// JetStream's error codes for a wrong expected last sequence (10164 from
// replicated streams).
const (
	codeWrongLastSeq    = 10071
	codeWrongLastSeqR   = 10164
	errCodeField        = `"err_code":`
	statusNoResponders  = "503"
	natsStatusHeaderKey = "Status"
)

// createAcks is a worker's ack channel's room: an ack that arrives while a
// late one of an earlier call still sits there is not dropped.
const createAcks = 4

// createAck is an ack for worker call seq.
type createAck struct {
	seq uint64
	err error
}

// createInbox subscribes the node's reply subject for creates:
// "INBOX.W.SEQ" answers worker W's call SEQ.
func (n *Node) createInbox() error {
	n.inbox = nats.NewInbox() + "."
	_, err := n.nc.Subscribe(n.inbox+">", n.onCreateAck)
	return err
}

// onCreateAck hands an ack to the worker that waits for it, if it still
// does (a late ack of a call that timed out is dropped).
func (n *Node) onCreateAck(m *nats.Msg) {
	tok := m.Subject[min(len(n.inbox), len(m.Subject)):]
	wi, seqs, ok := cutByte(tok, '.')
	i, err1 := strconv.Atoi(wi)
	seq, err2 := strconv.ParseUint(seqs, 10, 64)
	if !ok || err1 != nil || err2 != nil || i < 0 || i >= workers {
		return
	}
	w := n.reg[i]
	if w.want.Load() != seq {
		return
	}
	select {
	case w.acks <- createAck{seq: seq, err: ackErr(m)}:
	default:
	}
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// ackErr reads a JetStream publish ack: nil, errLastSeq, or the error it
// carries.
func ackErr(m *nats.Msg) error {
	if len(m.Data) == 0 {
		if m.Header.Get(natsStatusHeaderKey) == statusNoResponders {
			return nats.ErrNoResponders
		}
		return errors.New("cluster: empty publish ack")
	}
	if !bytes.Contains(m.Data, []byte(`"error"`)) {
		return nil
	}
	code := 0
	if i := bytes.Index(m.Data, []byte(errCodeField)); i >= 0 {
		d := m.Data[i+len(errCodeField):]
		for len(d) > 0 && d[0] == ' ' {
			d = d[1:]
		}
		for len(d) > 0 && d[0] >= '0' && d[0] <= '9' {
			code = code*10 + int(d[0]-'0')
			d = d[1:]
		}
	}
	if code == codeWrongLastSeq || code == codeWrongLastSeqR {
		return errLastSeq
	}
	return fmt.Errorf("cluster: publish refused: %s", m.Data)
}

// create makes key's entry with val if the key never had one: nil, or
// errLastSeq (the caller then uses KeyValue.Create), or an error.
func (w *worker) create(ctx context.Context, b *buckets, key string, val []byte) error {
	n := w.n
	if n.inbox == "" {
		return errLastSeq
	}
	w.seq++
	w.want.Store(w.seq)
	defer w.want.Store(0)
	for len(w.acks) > 0 { // late acks of calls that timed out
		<-w.acks
	}
	s := append(w.subj[:0], "$KV."...)
	s = append(append(append(s, b.names.Bucket()...), '.'), key...)
	w.subj = s
	r := append(w.reply[:0], n.inbox...)
	r = strconv.AppendUint(append(strconv.AppendInt(r, int64(w.idx), 10), '.'), w.seq, 10)
	w.reply = r
	w.msg.Subject, w.msg.Reply, w.msg.Data = string(s), string(r), val
	if err := n.nc.PublishMsg(&w.msg); err != nil {
		return err
	}
	for {
		select {
		case a := <-w.acks:
			if a.seq == w.seq {
				return a.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// newCreateMsg is a worker's reused create message: the header expects no
// last sequence for the key.
func newCreateMsg() nats.Msg {
	return nats.Msg{Header: nats.Header{jetstream.ExpectedLastSubjSeqHeader: []string{"0"}}}
}
