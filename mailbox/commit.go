package mailbox

import (
	"context"
	"sync"
	"time"
)

// Group commit (like PostgreSQL's own commit grouping or a mail server's
// queue): concurrent submissions are handed to one committer per
// process, which writes whatever has accumulated while the previous commit
// was in flight in ONE transaction — one lock of the evidence log, one
// batch append to the Merkle tree, one fsync. Each submission's reply still
// comes only after the commit that holds it is durable, so nothing
// acknowledged can be lost; a batch that fails is retried item by item, so
// one bad submission cannot fail others.

// MaxBatch bounds how many submissions one commit carries.
const MaxBatch = 128

// committers is how many group commits may be in flight at once on an
// engine with row locks.
const committers = 2

// deepQueue is how many submissions must be waiting for a second group
// commit to start while one is in flight. Each commit has a fixed cost
// (its round trips, the checkpoint's ML-DSA signature, the fsync): with a
// few dozen concurrent clients one committer's larger groups carry more
// letters per second than two half-size ones (measured, accept at c=32:
// this rule +14 % over two committers always); a deep queue (bulk
// batches) fills two groups of MaxBatch.
const deepQueue = MaxBatch / 4

// batchItem is a validated, routed, rendered submission ready to commit.
type batchItem struct {
	ctx       context.Context
	l         Letter
	sender    string // sender mailbox, for the idempotency key
	key       string // idempotency key ("" for none)
	reqHash   string
	body      string
	draft     *Draft
	chain     *logChain // the letter's events, through the transition table already
	job       *PrintJob
	pdf       []byte
	notes     []Notification
	byMailbox bool // the recipient mailbox was named by the sender

	// results
	appended appendResult // the commit's tree size and checkpoint
	replayed bool
	// rerouted: the recipient mailbox changed since routing; nothing was
	// written and the submission must be routed again.
	rerouted bool
	done     chan error
}

type committer struct {
	s    *Service
	in   chan *batchItem
	deep chan struct{} // signalled when deepQueue submissions are waiting
	stop chan struct{}
	wg   sync.WaitGroup
}

func (s *Service) startCommitter() {
	s.committerOnce.Do(func() {
		c := &committer{s: s, in: make(chan *batchItem, MaxBatch), deep: make(chan struct{}, 1), stop: make(chan struct{})}
		// On PostgreSQL a second committer, when the queue is deep,
		// writes its group's letters while the first holds the log head
		// (appending and waiting for its fsync): both take their locks in one order (recipient
		// mailboxes by id, idempotency keys, the log head last), so they
		// only ever wait for each other, never in a cycle. SQLite has one
		// writer at a time anyway.
		n := 1
		if s.cfg.Store.Engine() == "postgres" {
			n = committers
		}
		for i := range n {
			c.wg.Add(1)
			go c.run(i > 0)
		}
		s.committer = c
	})
}

// Close stops the committer after the batch in flight. Submissions after
// Close fail with ErrUnavailable.
func (s *Service) Close() {
	s.closeBatches()
	s.closeRouter()
	s.startCommitter()
	s.closeOnce.Do(func() {
		close(s.committer.stop)
		s.committer.wg.Wait()
	})
}

// run commits groups until stop. An extra committer (not the first)
// starts a group only when the queue is deep (deepQueue).
func (c *committer) run(extra bool) {
	defer c.wg.Done()
	for {
		if extra {
			select {
			case <-c.deep:
			case <-c.stop:
				c.failQueued()
				return
			}
		}
		var first *batchItem
		select {
		case first = <-c.in:
		case <-c.stop:
			c.failQueued()
			return
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

// failQueued fails whatever is still queued at stop: nothing of it was
// written.
func (c *committer) failQueued() {
	for {
		select {
		case it := <-c.in:
			it.done <- Errorf(ErrUnavailable, "shutting_down", "the server is shutting down; retry")
		default:
			return
		}
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
		now := s.now()
		live := make([]*batchItem, 0, len(items))
		seen, err := recipientsOf(ctx, tx, items)
		if err != nil {
			return err
		}
		var keys []IdempotencyKey
		for _, it := range items {
			it.replayed = false
			ok, err := recheckRecipient(ctx, tx, it, seen)
			if err != nil {
				return err
			}
			it.rerouted = !ok
			if !it.rerouted && it.key != "" {
				keys = append(keys, IdempotencyKey{Sender: it.sender, Key: it.key, RequestHash: it.reqHash, LetterID: it.l.ID, CreatedAt: now})
			}
		}
		// The keys of the whole group in one statement; an item whose key
		// exists (or an earlier item of this group took) is a retry of a
		// committed submission: nothing of it is written.
		stored := map[string]bool{}
		if len(keys) > 0 {
			put, err := tx.TryPutIdempotencyKeys(ctx, keys)
			if err != nil {
				return err
			}
			for _, k := range put {
				stored[k.LetterID] = true
			}
		}
		for _, it := range items {
			if it.rerouted {
				continue // before its idempotency key: nothing of it is written
			}
			if it.key != "" && !stored[it.l.ID] {
				it.replayed = true
				continue
			}
			live = append(live, it)
		}
		if len(live) == 0 {
			return nil // every item was a retry of a committed submission
		}
		// Content, blobs, jobs and letter rows first; the log head is
		// locked last, by appendSealed, for appending only.
		chains := make([]*logChain, len(live))
		for i, it := range live {
			// A batch that failed may have advanced the chain: start over.
			it.l.LastEvidence, it.l.EvidenceCount = "", 0
			chains[i] = it.chain
		}
		var res appendResult
		if contentBytes(live) <= sealAheadMaxBytes {
			// Sealed before the letters are written (when the log index
			// can be predicted), so each letter row is written once, with
			// its chain.
			r, err := s.sealAhead(tx, chains)
			if err != nil {
				return err
			}
			defer r.release()
			if err := s.writeItems(ctx, tx, live); err != nil {
				return err
			}
			if res, err = s.appendSealed(ctx, tx, chains, r, true); err != nil {
				return err
			}
		} else {
			// Much content: written before this group takes its turn in
			// the log order, so that no other append of this process
			// waits behind its upload; the letters' chains are written
			// again once sealed.
			if err := s.writeItems(ctx, tx, live); err != nil {
				return err
			}
			if res, err = s.appendLog(ctx, tx, chains); err != nil {
				return err
			}
		}
		for _, it := range live {
			it.appended = res
		}
		return nil
	})
}

// sealAheadMaxBytes bounds the content a group writes between taking its
// turn in the log order and locking the log head (logOrder): a group of
// 128 letters of 10 KiB stays under it, one with a 25 MiB attachment does
// not.
const sealAheadMaxBytes = 4 << 20

// contentBytes is what writeItems writes of the items' content: bodies,
// attachments and print PDFs.
func contentBytes(items []*batchItem) int64 {
	var n int64
	for _, it := range items {
		n += int64(len(it.body) + len(it.pdf))
		for _, a := range it.l.Attachments {
			n += a.Size
		}
	}
	return n
}

// writeItems stores submissions inside the batch transaction before their
// evidence is appended, with one multi-row INSERT per table where rows are
// small (letters, bodies); attachments stream chunk by chunk.
func (s *Service) writeItems(ctx context.Context, tx Tx, items []*batchItem) error {
	letters := make([]Letter, 0, len(items))
	var bodies []Chunk
	var notes []Notification
	for _, it := range items {
		letters = append(letters, it.l)
		bodies = append(bodies, bodyChunks(it.l.ID, it.draft, it.body)...)
		notes = append(notes, it.notes...)
	}
	if err := tx.CreateLetters(ctx, letters); err != nil {
		return err
	}
	if err := tx.PutChunks(ctx, bodies); err != nil {
		return err
	}
	if len(notes) > 0 {
		if err := tx.AddNotifications(ctx, notes); err != nil {
			return err
		}
	}
	for _, it := range items {
		if err := storeAttachments(ctx, tx, it.l.ID, it.draft); err != nil {
			return err
		}
		if it.job != nil {
			if err := s.writeJob(ctx, tx, *it.job, it.pdf); err != nil {
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
		if len(s.committer.in) >= deepQueue {
			select {
			case s.committer.deep <- struct{}{}:
			default: // already signalled
			}
		}
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
