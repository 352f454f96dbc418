package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// Group commit (issue 7, like PostgreSQL's own commit grouping or a mail
// server's queue): concurrent submissions are handed to one committer per
// process, which writes whatever has accumulated while the previous commit
// was in flight in ONE transaction — one lock of the evidence log, one
// batch append to the Merkle tree, one fsync. Each submission's reply still
// comes only after the commit that holds it is durable, so nothing
// acknowledged can be lost; a batch that fails is retried item by item, so
// one bad submission cannot fail others.

// MaxBatch bounds how many submissions one commit carries.
const MaxBatch = 128

// batchItem is a validated, routed, rendered submission ready to commit.
type batchItem struct {
	ctx     context.Context
	l       Letter
	sender  string // sender mailbox, for the idempotency key
	key     string // idempotency key ("" for none)
	reqHash string
	body    string
	draft   *Draft
	events  []signing.Evidence // in order; their IDs are assigned already
	job     *PrintJob
	pdf     []byte
	notes   []Notification

	// results
	first    uint64 // log index of the first event
	leaves   [][]byte
	replayed bool
	done     chan error
}

type committer struct {
	s    *Service
	in   chan *batchItem
	stop chan struct{}
	wg   sync.WaitGroup
}

func (s *Service) startCommitter() {
	s.committerOnce.Do(func() {
		c := &committer{s: s, in: make(chan *batchItem, MaxBatch), stop: make(chan struct{})}
		c.wg.Add(1)
		go c.run()
		s.committer = c
	})
}

// Close stops the committer after the batch in flight. Submissions after
// Close fail with ErrUnavailable.
func (s *Service) Close() {
	s.startCommitter()
	s.closeOnce.Do(func() {
		close(s.committer.stop)
		s.committer.wg.Wait()
	})
}

func (c *committer) run() {
	defer c.wg.Done()
	for {
		var first *batchItem
		select {
		case first = <-c.in:
		case <-c.stop:
			// Fail whatever is still queued: nothing of it was written.
			for {
				select {
				case it := <-c.in:
					it.done <- Errorf(ErrUnavailable, "shutting_down", "the server is shutting down; retry")
				default:
					return
				}
			}
		}
		batch := []*batchItem{first}
	drain:
		for len(batch) < MaxBatch {
			select {
			case it := <-c.in:
				batch = append(batch, it)
			default:
				break drain
			}
		}
		c.commit(batch)
	}
}

// commit writes a batch; on failure it retries each item alone.
func (c *committer) commit(batch []*batchItem) {
	live := batch[:0:0]
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.done <- err // the client is gone; nothing was written
			continue
		}
		live = append(live, it)
	}
	if len(live) == 0 {
		return
	}
	t0 := time.Now()
	err := c.write(live)
	c.s.obs.CommitBatch(len(live), time.Since(t0))
	if err != nil && len(live) > 1 {
		c.s.log.Warn("group commit failed; retrying its submissions one by one", "batch", len(live), "err", err)
		for _, it := range live {
			it.done <- c.write([]*batchItem{it})
		}
		return
	}
	for _, it := range live {
		it.done <- err
	}
}

func (c *committer) write(items []*batchItem) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := c.s
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		head, err := tx.LockLogHead(ctx)
		if err != nil {
			return err
		}
		now := s.now()
		live := make([]*batchItem, 0, len(items))
		for _, it := range items {
			it.replayed = false
			if it.key != "" {
				ok, err := tx.TryPutIdempotencyKey(ctx, it.sender, it.key, it.reqHash, it.l.ID, now)
				if err != nil {
					return err
				}
				if !ok {
					it.replayed = true // an earlier submission with this key committed
					continue
				}
			}
			live = append(live, it)
		}
		// Seal every evidence: log indices are assigned in order; letters
		// are sealed in parallel (a letter's own events in sequence, since
		// each names the previous one's hash).
		first := make([]uint64, len(live))
		next := head.Size
		for i, it := range live {
			first[i], it.first = next, next
			next += uint64(len(it.events))
		}
		if err := s.sealItems(live, first); err != nil {
			return err
		}
		hashes := make([][]byte, 0, next-head.Size)
		for _, it := range live {
			for _, leaf := range it.leaves {
				hashes = append(hashes, tlog.LeafHash(leaf))
			}
		}
		if len(hashes) == 0 {
			return nil // every item was a retry of a committed submission
		}
		nodes, root, err := tlog.AppendBatch(ctx, nodeReader{tx}, head.Size, hashes)
		if err != nil {
			return fmt.Errorf("appending to the evidence log: %w", err)
		}
		if err := s.writeItems(ctx, tx, live, first); err != nil {
			return err
		}
		if err := tx.PutLogNodes(ctx, toLogNodes(nodes)); err != nil {
			return err
		}
		return tx.SetLogHead(ctx, LogHead{Size: next, Root: root})
	})
}

// sealItems seals the items' events with up to GOMAXPROCS workers.
func (s *Service) sealItems(items []*batchItem, first []uint64) error {
	workers := min(runtime.GOMAXPROCS(0), len(items))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := s.sealItem(items[i], first[i]); err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range items {
		work <- i
	}
	close(work)
	wg.Wait()
	return firstErr
}

func (s *Service) sealItem(it *batchItem, index uint64) error {
	l := &it.l
	l.LastEvidence, l.EvidenceCount = "", 0
	it.leaves = it.leaves[:0]
	for k, ev := range it.events {
		env, err := s.seal(l, ev, index+uint64(k))
		if err != nil {
			return err
		}
		it.leaves = append(it.leaves, env.Bytes())
		l.LastEvidence = env.Hash()
		l.EvidenceCount++
	}
	return nil
}

// seal builds and signs the payload of one evidence of a letter at a log
// index, chained to the letter's last evidence.
func (s *Service) seal(l *Letter, ev signing.Evidence, index uint64) (signing.Envelope, error) {
	ev.V = signing.EvidenceVersion
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	ev.Time = ev.Time.UTC()
	ev.Letter = l.ID
	ev.Tracking = l.Tracking
	ev.Sender = signing.Party{Mailbox: l.SenderMailbox, Name: l.SenderName, Address: l.SenderAddress}
	ev.Recipient = signing.Party{Mailbox: l.RecipientMailbox, Name: l.RecipientName, Address: l.RecipientAddress}
	if l.RecipientByMailbox {
		// The sender gets every evidence record: it names the recipient as
		// the sender did, by mailbox id only (see LetterView).
		ev.Recipient = signing.Party{Mailbox: l.RecipientMailbox}
	}
	ev.Prev = l.LastEvidence
	ev.LogIndex = index
	payload, err := json.Marshal(ev)
	if err != nil {
		return signing.Envelope{}, err
	}
	t0 := time.Now()
	env, err := s.cfg.Sealer.Seal(payload)
	s.obs.Sealed(time.Since(t0))
	if err != nil {
		return signing.Envelope{}, fmt.Errorf("sealing %s: %w", ev.Event, err)
	}
	return env, nil
}

// writeItems stores sealed submissions inside the batch transaction, with
// one multi-row INSERT per table where rows are small (letters, bodies,
// evidence); attachments stream chunk by chunk.
func (s *Service) writeItems(ctx context.Context, tx Tx, items []*batchItem, first []uint64) error {
	letters := make([]Letter, 0, len(items))
	var bodies []Chunk
	var evs []EvidenceRecord
	for i, it := range items {
		letters = append(letters, it.l)
		bodies = append(bodies, bodyChunks(it.l.ID, it.draft, it.body)...)
		for k, ev := range it.events {
			evs = append(evs, EvidenceRecord{ID: ev.ID, LetterID: it.l.ID, Seq: k, Event: string(ev.Event),
				LogIndex: first[i] + uint64(k), Envelope: it.leaves[k], CreatedAt: ev.Time.UTC()})
		}
	}
	if err := tx.CreateLetters(ctx, letters); err != nil {
		return err
	}
	if err := tx.PutChunks(ctx, bodies); err != nil {
		return err
	}
	if err := tx.AddEvidences(ctx, evs); err != nil {
		return err
	}
	for _, it := range items {
		if err := storeAttachments(ctx, tx, it.l.ID, it.draft); err != nil {
			return err
		}
		if it.job != nil {
			if it.pdf != nil {
				blob, err := s.sealBlob(it.job.ID, it.pdf)
				if err != nil {
					return err
				}
				if err := tx.PutBlob(ctx, pdfBlobKey(it.job.ID), blob); err != nil {
					return err
				}
			}
			if err := tx.CreatePrintJob(ctx, *it.job); err != nil {
				return err
			}
		}
		for _, n := range it.notes {
			if err := tx.AddNotification(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// enqueue hands an item to the committer and waits for its commit. It waits
// even if ctx is cancelled meanwhile: the committer may be reading the
// item's staged files, and the caller closes them when Submit returns.
func (s *Service) enqueue(ctx context.Context, it *batchItem) error {
	s.startCommitter()
	it.ctx = ctx
	it.done = make(chan error, 1)
	select {
	case s.committer.in <- it:
	case <-s.committer.stop:
		return Errorf(ErrUnavailable, "shutting_down", "the server is shutting down; retry")
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-it.done
}

// serials hands out S10 serials from blocks reserved in the store: one
// durable write per block instead of one per letter. A block left unused by
// a crash leaves a gap; a serial is never handed out twice, also across
// processes (each reserves its own blocks).
type serials struct {
	mu   sync.Mutex
	next int64
	end  int64 // exclusive
}

const serialBlock = 256

func (s *Service) nextSerial(ctx context.Context) (int64, error) {
	s.serials.mu.Lock()
	defer s.serials.mu.Unlock()
	if s.serials.next >= s.serials.end {
		var last int64
		if err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
			var err error
			last, err = tx.ReserveCounter(ctx, "s10", serialBlock)
			return err
		}); err != nil {
			return 0, err
		}
		s.serials.next, s.serials.end = last-serialBlock+1, last+1
	}
	v := s.serials.next
	s.serials.next++
	return v, nil
}
