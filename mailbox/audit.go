package mailbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// ErrAudit marks a failed audit: the evidence or the log was altered.
var ErrAudit = errors.New("audit failed")

// AuditReport summarizes a successful audit.
type AuditReport struct {
	Leaves      uint64
	Letters     int
	Checkpoints int // stored checkpoints checked
	External    int // externally kept checkpoints checked
	Root        string
}

// Audit re-checks the whole evidence log from the first leaf (DESIGN §4):
// every index holds exactly one envelope whose two signatures verify, whose
// payload names its own index and letter, and whose prev links to the
// letter's previous evidence; the tree rebuilt from the leaves has the
// stored root, and so do the stored nodes that proofs are served from;
// every checkpoint the server ever handed out (and every checkpoint an
// auditor kept, given in external) is signed and matches the rebuilt tree at
// its size; every letter's evidence count and last link match its chain.
// Altering or deleting any evidence row, log node or head is detected.
func (s *Service) Audit(ctx context.Context, external [][]byte) (AuditReport, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrAudit}, args...)...)
	}
	var rep AuditReport
	vkey, err := s.NoteVerifierKey()
	if err != nil {
		return rep, err
	}
	keys := s.JWKS()
	mem := tlog.NewMemoryStore()
	type chain struct {
		count int
		last  string
	}
	chains := map[string]*chain{}
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		head, err := tx.GetLogHead(ctx)
		if err != nil {
			return err
		}
		const page = 1000
		for from := uint64(0); from < head.Size; from += page {
			recs, err := tx.EvidenceByIndex(ctx, from, min(from+page, head.Size))
			if err != nil {
				return err
			}
			for i, r := range recs {
				idx := from + uint64(i)
				if r.LogIndex != idx {
					return fail("log index %d is missing (next stored is %d)", idx, r.LogIndex)
				}
				payload, err := signing.VerifyEnvelope(r.Envelope, keys)
				if err != nil {
					return fail("leaf %d: %v", idx, err)
				}
				ev, err := signing.ParseEvidence(payload)
				if err != nil {
					return fail("leaf %d: %v", idx, err)
				}
				if ev.LogIndex != idx || ev.Letter != r.LetterID || string(ev.Event) != r.Event || ev.ID != r.ID {
					return fail("leaf %d: payload (index %d, letter %s, %s) does not match its row", idx, ev.LogIndex, ev.Letter, ev.Event)
				}
				c := chains[r.LetterID]
				if c == nil {
					c = &chain{}
					chains[r.LetterID] = c
				}
				if ev.Prev != c.last || r.Seq != c.count {
					return fail("leaf %d: letter %s's chain is broken at evidence %d", idx, r.LetterID, r.Seq)
				}
				env, err := signing.ParseEnvelope(r.Envelope)
				if err != nil {
					return fail("leaf %d: %v", idx, err)
				}
				c.last, c.count = env.Hash(), c.count+1
				if _, _, err := mem.Append(ctx, tlog.LeafHash(r.Envelope)); err != nil {
					return err
				}
			}
			if uint64(len(recs)) != min(page, head.Size-from) {
				return fail("log holds %d leaves, evidence rows end at %d", head.Size, from+uint64(len(recs)))
			}
		}
		if n, err := tx.EvidenceByIndex(ctx, head.Size, head.Size+1); err != nil || len(n) != 0 {
			return fail("evidence exists beyond the log head (%d)", head.Size)
		}
		rep.Leaves = head.Size
		root, err := tlog.RootAt(ctx, mem, head.Size)
		if err != nil {
			return err
		}
		if !bytes.Equal(root, head.Root) {
			return fail("the log head's root is not the root of the stored leaves")
		}
		// Proofs are served from the stored nodes: every one of them must
		// be the node the leaves give.
		for level := uint(0); head.Size>>level > 0; level++ {
			n := head.Size >> level
			for from := uint64(0); from < n; from += page {
				ids := make([]tlog.NodeID, 0, page)
				for i := from; i < min(from+page, n); i++ {
					ids = append(ids, tlog.NodeID{Level: level, Index: i})
				}
				want, err := mem.ReadNodes(ctx, ids)
				if err != nil {
					return err
				}
				got, err := nodeReader{tx}.ReadNodes(ctx, ids)
				if err != nil {
					return fail("stored log nodes at level %d: %v", level, err)
				}
				for i := range ids {
					if !bytes.Equal(want[i], got[i]) {
						return fail("stored log node (%d, %d), used for proofs, does not match the leaves", level, ids[i].Index)
					}
				}
			}
		}
		rep.Root = hex.EncodeToString(root)
		check := func(what string, note []byte) error {
			cp, err := tlog.OpenCheckpoint(note, vkey)
			if err != nil {
				return fail("%s: %v", what, err)
			}
			if cp.Size > head.Size {
				return fail("%s is for size %d, beyond the log (%d): history was cut", what, cp.Size, head.Size)
			}
			r, err := tlog.RootAt(ctx, mem, cp.Size)
			if err != nil {
				return err
			}
			if !bytes.Equal(r, cp.Hash) {
				return fail("%s (size %d) does not match the log: history was rewritten", what, cp.Size)
			}
			return nil
		}
		if err := tx.Checkpoints(ctx, func(size uint64, note []byte) error {
			rep.Checkpoints++
			return check(fmt.Sprintf("stored checkpoint %d", size), note)
		}); err != nil {
			return err
		}
		for i, note := range external {
			rep.External++
			if err := check(fmt.Sprintf("external checkpoint %d", i+1), note); err != nil {
				return err
			}
		}
		for id, c := range chains {
			l, err := tx.GetLetter(ctx, id, false)
			if err != nil {
				return fail("evidence names letter %s, which is missing", id)
			}
			if l.EvidenceCount != c.count || l.LastEvidence != c.last {
				return fail("letter %s records %d evidence, the log holds %d", id, l.EvidenceCount, c.count)
			}
		}
		rep.Letters = len(chains)
		return nil
	})
	return rep, err
}
