package mailbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// A logChain is a run of log entries of one letter or of one mailbox. Each
// entry names the previous one's hash (prev), so a chain is sealed in
// order; different chains are independent and are sealed in parallel.
type logChain struct {
	// letter is set for a letter's evidence: sealing fills each payload
	// from the letter and advances its LastEvidence and EvidenceCount.
	letter *Letter
	events []signing.Evidence
	// mailbox is set for a mailbox's entries.
	mailbox string
	entries []signing.MailboxEntry

	// prove asks appendLog for the inclusion proof of every entry into
	// the new tree size (a submission's receipt).
	prove bool

	// Set by appendLog.
	from   chainStart // letter chains sealed ahead: the letter's chain before
	proofs [][][]byte // with prove: one proof per entry
	first  uint64     // log index of the chain's first entry
	seq    int        // mailbox chains: entries the mailbox had before
	prev   string     // mailbox chains: hash of its last entry before
	leaves [][]byte
	recs   []EvidenceRecord
}

// letterChain applies events to a letter through the transition table and
// returns the chain to append. It changes nothing stored: the caller writes
// the letter's other rows (the job, the blob, the letter itself), then
// appends. Event ids and times are assigned here.
func (s *Service) letterChain(l *Letter, now time.Time, events ...signing.Evidence) (*logChain, error) {
	f := letterFactsOf(*l)
	if l.EvidenceCount == 0 {
		f = LetterFacts{}
	}
	c := &logChain{letter: l, events: make([]signing.Evidence, len(events))}
	for i, ev := range events {
		if ev.ID == "" {
			ev.ID = uuid.NewString()
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		if ev.Route == "" && ev.Event != signing.EventSubmissionAcceptance {
			ev.Route = f.Route
		}
		ev.Time = ev.Time.UTC()
		ev.Letter, ev.Tracking = l.ID, l.Tracking
		ev.Sender = signing.Party{Mailbox: l.SenderMailbox, Name: l.SenderName, Address: l.SenderAddress}
		ev.Recipient = signing.Party{Mailbox: l.RecipientMailbox, Name: l.RecipientName, Address: l.RecipientAddress}
		if l.RecipientByMailbox {
			// The sender gets every evidence record: it names the recipient
			// as the sender did, by mailbox id only (see LetterView).
			ev.Recipient = signing.Party{Mailbox: l.RecipientMailbox}
		}
		next, err := NextLetter(f, &ev)
		if err != nil {
			return nil, Errorf(ErrConflict, "invalid_transition", "letter %s: %v", l.ID, err)
		}
		f = next
		c.events[i] = ev
	}
	setLetterFacts(l, f)
	return c, nil
}

// recordLetter records events of an existing letter in the caller's
// transaction: the transition table moves the letter, its row is written,
// then the evidence is appended (appendLog, last). The caller has locked
// the letter row and written its other rows before.
func (s *Service) recordLetter(ctx context.Context, tx Tx, l *Letter, events ...signing.Evidence) error {
	c, err := s.letterChain(l, s.now(), events...)
	if err != nil {
		return err
	}
	chains := []*logChain{c}
	r, err := s.sealAhead(tx, chains)
	if err != nil {
		return err
	}
	defer r.release()
	if err := tx.UpdateLetter(ctx, *l); err != nil {
		return err
	}
	_, err = s.appendSealed(ctx, tx, chains, r, true)
	return err
}

// mailboxChain returns the chain of a mailbox's new entries.
func (s *Service) mailboxChain(mailboxID string, now time.Time, entries ...signing.MailboxEntry) *logChain {
	c := &logChain{mailbox: mailboxID, entries: make([]signing.MailboxEntry, len(entries))}
	for i, e := range entries {
		if e.ID == "" {
			e.ID = uuid.NewString()
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time, e.Mailbox = e.Time.UTC(), mailboxID
		c.entries[i] = e
	}
	return c
}

// appendResult is what one append stored.
type appendResult struct {
	Size       uint64 // the tree size after the append: its checkpoint's size
	Checkpoint []byte // the co-signed checkpoint of that size, stored with it
}

// appendLog is the one path by which anything enters the evidence log
// (DESIGN §4): it seals every entry of the chains (one EdDSA signature,
// envelope v2), appends the leaves to the Merkle tree, writes the entry
// rows, the letters' chain fields and a checkpoint of the new size
// co-signed with Ed25519 and ML-DSA-65 — all in the caller's transaction,
// so the evidence, the state change it justifies and the checkpoint that
// gives it post-quantum strength commit together or not at all. One
// ML-DSA-65 signature per transaction, not per envelope.
//
// Lock order: the caller writes content, blobs, job and letter rows first
// and calls appendLog last. The log head row is locked here, so appends
// from every process serialize on it for the least time: hashing and the
// row writes of the log itself; the sealing is done before the lock when
// the log index can be predicted (logOrder). Nothing heavy (decryption,
// rendering) may happen while it is held.
func (s *Service) appendLog(ctx context.Context, tx Tx, chains []*logChain) (appendResult, error) {
	r, err := s.sealAhead(tx, chains)
	if err != nil {
		return appendResult{}, err
	}
	defer r.release()
	return s.appendSealed(ctx, tx, chains, r, false)
}

// sealAhead reserves the chains' log indexes and, where they can be
// predicted, seals them now, before the head is locked: the letters'
// LastEvidence and EvidenceCount then hold the chain as sealed, so the
// caller can write the letter rows once, complete. The caller must call
// appendSealed with the reservation, or release it; between the two it
// may only write rows no other transaction can be waiting for (see
// logOrder). A nil reservation (the head is held already) is valid.
func (s *Service) sealAhead(tx Tx, chains []*logChain) (*reservation, error) {
	if tx.HoldsLogHead() {
		return nil, nil // no turn to wait for: sealed under the lock
	}
	var n uint64
	predictable := true
	for _, c := range chains {
		n += uint64(len(c.events) + len(c.entries))
		// A mailbox chain's predecessor is read under the head lock.
		predictable = predictable && c.mailbox == ""
	}
	r := s.logOrder.reserve(n)
	if !r.known || !predictable || n == 0 {
		return r, nil
	}
	next := r.first
	for _, c := range chains {
		c.first = next
		next += uint64(len(c.events))
		c.from = chainStart{c.letter.LastEvidence, c.letter.EvidenceCount}
	}
	if err := s.sealChains(chains); err != nil {
		r.release()
		return nil, err
	}
	r.sealed = true
	return r, nil
}

// chainStart is a letter's chain before a sealing: what a second sealing
// (the prediction missed) starts from again.
type chainStart struct {
	last  string
	count int
}

// appendSealed appends chains reserved (and perhaps sealed) by sealAhead:
// it waits for the reservation's turn, locks the head, seals again if the
// prediction missed, and writes the log. written says the caller wrote
// the letters after sealAhead, with the chains it sealed: on a hit their
// chain fields are not written again.
func (s *Service) appendSealed(ctx context.Context, tx Tx, chains []*logChain, r *reservation, written bool) (appendResult, error) {
	if r != nil {
		if err := r.wait(ctx); err != nil {
			return appendResult{}, err
		}
	}
	head, err := tx.LockLogHead(ctx)
	if err != nil {
		return appendResult{}, err
	}
	hit := r != nil && r.locked(head.Size) && r.sealed
	if r != nil && r.sealed {
		s.obs.LogPrediction(hit)
	}
	next := head.Size
	for _, c := range chains {
		if c.mailbox != "" {
			// Read under the head lock: no other transaction extends the
			// chain until this one commits.
			prev, err := tx.MailboxEntriesOf(ctx, c.mailbox)
			if err != nil {
				return appendResult{}, err
			}
			c.seq, c.prev = len(prev), ""
			if len(prev) > 0 {
				env, err := signing.ParseEnvelope(prev[len(prev)-1].Envelope)
				if err != nil {
					return appendResult{}, fmt.Errorf("mailbox %s's last log entry: %w", c.mailbox, err)
				}
				c.prev = env.Hash()
			}
		}
		if r != nil && r.sealed && !hit {
			// Sealed at the predicted index: start the chain over.
			c.letter.LastEvidence, c.letter.EvidenceCount = c.from.last, c.from.count
		}
		c.first = next
		next += uint64(len(c.events) + len(c.entries))
	}
	if next == head.Size {
		return appendResult{Size: head.Size}, nil
	}
	if !hit {
		if err := s.sealChains(chains); err != nil {
			return appendResult{}, err
		}
	}
	hashes := make([][]byte, 0, next-head.Size)
	var evs, entries []EvidenceRecord
	var letters []Letter
	for _, c := range chains {
		for _, leaf := range c.leaves {
			hashes = append(hashes, tlog.LeafHash(leaf))
		}
		if c.letter != nil {
			evs = append(evs, c.recs...)
			letters = append(letters, *c.letter)
		} else {
			entries = append(entries, c.recs...)
		}
	}
	cache := &cachedNodes{tx: tx, m: map[tlog.NodeID][]byte{}}
	// The compact range this process's last append left, when the head is
	// still that tree: no node is read under the head lock.
	s.frontier.seed(head, cache.m)
	nodes, root, err := tlog.AppendBatch(ctx, cache, head.Size, hashes)
	if err != nil {
		return appendResult{}, fmt.Errorf("appending to the evidence log: %w", err)
	}
	// Receipts' proofs come from the nodes just written and those the
	// append read: no further query while the head is locked.
	for _, n := range nodes {
		cache.m[n.ID] = n.Hash
	}
	for _, c := range chains {
		if !c.prove {
			continue
		}
		c.proofs = make([][][]byte, len(c.leaves))
		for k := range c.leaves {
			if c.proofs[k], err = tlog.InclusionProof(ctx, cache, c.first+uint64(k), next); err != nil {
				return appendResult{}, fmt.Errorf("proving entry %d: %w", c.first+uint64(k), err)
			}
		}
	}
	s.frontier.remember(next, root, cache.m)
	if err := tx.PutLogNodes(ctx, toLogNodes(nodes)); err != nil {
		return appendResult{}, err
	}
	if err := tx.SetLogHead(ctx, LogHead{Size: next, Root: root}); err != nil {
		return appendResult{}, err
	}
	if len(evs) > 0 {
		if err := tx.AddEvidences(ctx, evs); err != nil {
			return appendResult{}, err
		}
		if !hit || !written {
			if err := tx.SetLetterChains(ctx, letters); err != nil {
				return appendResult{}, err
			}
		}
	}
	if len(entries) > 0 {
		if err := tx.AddMailboxEntries(ctx, entries); err != nil {
			return appendResult{}, err
		}
	}
	note, err := s.cfg.Sealer.SignCheckpoint(s.origin, next, root)
	if err != nil {
		return appendResult{}, fmt.Errorf("signing the checkpoint of size %d: %w", next, err)
	}
	if err := tx.PutCheckpoint(ctx, next, note, s.now()); err != nil {
		return appendResult{}, err
	}
	return appendResult{Size: next, Checkpoint: note}, nil
}

// sealChains seals every chain: chains in parallel on up to GOMAXPROCS
// workers, a chain's own entries in sequence.
func (s *Service) sealChains(chains []*logChain) error {
	workers := min(runtime.GOMAXPROCS(0), len(chains))
	if workers <= 1 {
		for _, c := range chains {
			if err := s.sealChain(c); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, len(chains))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(chains); i += workers {
				errs[i] = s.sealChain(chains[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Service) sealChain(c *logChain) error {
	c.leaves, c.recs = c.leaves[:0], c.recs[:0]
	if l := c.letter; l != nil {
		for k := range c.events {
			ev := c.events[k]
			ev.V = signing.EvidenceVersion
			ev.Prev = l.LastEvidence
			ev.LogIndex = c.first + uint64(k)
			payload, err := ev.Marshal()
			if err != nil {
				return fmt.Errorf("letter %s, %s: %w", l.ID, ev.Event, err)
			}
			env, err := s.sealTimed(payload)
			if err != nil {
				return fmt.Errorf("sealing %s: %w", ev.Event, err)
			}
			leaf := env.Bytes()
			c.leaves = append(c.leaves, leaf)
			c.recs = append(c.recs, EvidenceRecord{ID: ev.ID, LetterID: l.ID, Seq: l.EvidenceCount, Event: string(ev.Event),
				LogIndex: ev.LogIndex, Envelope: leaf, CreatedAt: ev.Time})
			l.LastEvidence = env.Hash()
			l.EvidenceCount++
		}
		return nil
	}
	prev := c.prev
	for k := range c.entries {
		e := c.entries[k]
		e.V = signing.EvidenceVersion
		e.Prev = prev
		e.LogIndex = c.first + uint64(k)
		payload, err := e.Marshal()
		if err != nil {
			return fmt.Errorf("mailbox %s, %s: %w", c.mailbox, e.Event, err)
		}
		env, err := s.sealTimed(payload)
		if err != nil {
			return fmt.Errorf("sealing %s: %w", e.Event, err)
		}
		leaf := env.Bytes()
		c.leaves = append(c.leaves, leaf)
		c.recs = append(c.recs, EvidenceRecord{ID: e.ID, MailboxID: c.mailbox, Seq: c.seq + k, Event: string(e.Event),
			LogIndex: e.LogIndex, Envelope: leaf, CreatedAt: e.Time})
		prev = env.Hash()
	}
	return nil
}

// cachedNodes reads log nodes through a transaction, keeping what it read
// and what the append wrote, so the proofs of a batch cost no queries.
type cachedNodes struct {
	tx Tx
	m  map[tlog.NodeID][]byte
}

func (c *cachedNodes) ReadNodes(ctx context.Context, ids []tlog.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var miss []tlog.NodeID
	var at []int
	for i, id := range ids {
		if h, ok := c.m[id]; ok {
			out[i] = h
			continue
		}
		miss, at = append(miss, id), append(at, i)
	}
	if len(miss) == 0 {
		return out, nil
	}
	got, err := nodeReader{c.tx}.ReadNodes(ctx, miss)
	if err != nil {
		return nil, err
	}
	for k, h := range got {
		out[at[k]] = h
		c.m[miss[k]] = h
	}
	return out, nil
}

// sealTimed seals one payload and reports how long it took
// (npes_seal_duration_seconds).
func (s *Service) sealTimed(payload []byte) (signing.Envelope, error) {
	t0 := time.Now()
	env, err := s.cfg.Sealer.SealV2(payload)
	s.obs.Sealed(time.Since(t0))
	return env, err
}
