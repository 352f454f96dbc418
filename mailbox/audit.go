package mailbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// ErrAudit marks a failed audit: the evidence, the log, or a row that the
// log decides was altered.
var ErrAudit = errors.New("audit failed")

// AuditReport summarizes a successful audit.
type AuditReport struct {
	Leaves      uint64
	Letters     int
	Mailboxes   int // mailbox rows compared with their log entries
	PrintJobs   int // print job rows compared with the log
	Checkpoints int // stored checkpoints checked
	External    int // externally kept checkpoints checked
	Root        string
}

// auditPage is how many rows the audit reads per query.
const auditPage = 1000

// Audit re-checks the whole evidence log from the first leaf (DESIGN §4)
// and every row whose value the log decides:
//
//   - every index holds exactly one entry (letter evidence or mailbox
//     entry) whose signatures verify (v1: EdDSA and ML-DSA-65; v2: EdDSA,
//     with the co-signed checkpoints below), whose payload names its own
//     index, id, event and letter or mailbox, and whose prev links to the
//     previous entry of the same letter or mailbox;
//   - the tree rebuilt from the leaves has the stored root, and so do the
//     stored nodes that proofs are served from; the latest stored
//     checkpoint covers the whole log; every stored checkpoint (and every
//     one an auditor kept, given in external) carries valid Ed25519 and
//     ML-DSA-65 signatures and matches the rebuilt tree at its size;
//   - every letter's state, route, recipient mailbox, evidence count and
//     last link, every mailbox's status, match key, holder and bound
//     credentials, and every print job's letter, postcode, region and
//     cancellation (exactly the jobs of recalled letters) are
//     what the log's entries give through the transition tables; a letter
//     row without evidence or a letter print job the log never created
//     fails too.
//
// So `UPDATE letters SET recipient_mailbox = …` (another person reads the
// letter), a credential row bound without its log entry, or a print job
// moved to another address, all fail the audit.
func (s *Service) Audit(ctx context.Context, external [][]byte) (AuditReport, error) {
	var rep AuditReport
	trust, err := signing.NewTrust(s.JWKS())
	if err != nil {
		return rep, err
	}
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		a := &auditor{s: s, tx: tx, trust: trust, mem: tlog.NewMemoryStore(),
			letters: map[string]*letterFold{}, mailboxes: map[string]*mailboxFold{}}
		return a.run(ctx, external, &rep)
	})
	return rep, err
}

func auditFail(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrAudit}, args...)...)
}

type letterFold struct {
	count int
	last  string
	facts LetterFacts
}

type mailboxFold struct {
	count int
	last  string
	facts MailboxFacts
}

type auditor struct {
	s         *Service
	tx        Tx
	trust     *signing.Trust
	mem       *tlog.MemoryStore
	letters   map[string]*letterFold
	mailboxes map[string]*mailboxFold
}

func (a *auditor) run(ctx context.Context, external [][]byte, rep *AuditReport) error {
	tx := a.tx
	head, err := tx.GetLogHead(ctx)
	if err != nil {
		return err
	}
	for from := uint64(0); from < head.Size; from += auditPage {
		recs, err := tx.EvidenceByIndex(ctx, from, min(from+auditPage, head.Size))
		if err != nil {
			return err
		}
		for i, r := range recs {
			idx := from + uint64(i)
			if r.LogIndex != idx {
				return auditFail("log index %d is missing or stored twice (next stored is %d)", idx, r.LogIndex)
			}
			if err := a.leaf(ctx, idx, r); err != nil {
				return err
			}
		}
		if uint64(len(recs)) != min(auditPage, head.Size-from) {
			return auditFail("log holds %d leaves, evidence rows end at %d", head.Size, from+uint64(len(recs)))
		}
	}
	if n, err := tx.EvidenceByIndex(ctx, head.Size, head.Size+1); err != nil || len(n) != 0 {
		return auditFail("evidence exists beyond the log head (%d)", head.Size)
	}
	rep.Leaves = head.Size
	if err := a.tree(ctx, head, external, rep); err != nil {
		return err
	}
	if rep.Letters, err = a.letterRows(ctx); err != nil {
		return err
	}
	if rep.PrintJobs, err = a.printJobRows(ctx); err != nil {
		return err
	}
	rep.Mailboxes, err = a.mailboxRows(ctx)
	return err
}

// leaf checks one log entry and folds it into its letter's or mailbox's
// facts.
func (a *auditor) leaf(ctx context.Context, idx uint64, r EvidenceRecord) error {
	env, err := signing.ParseEnvelope(r.Envelope)
	if err != nil {
		return auditFail("leaf %d: %v", idx, err)
	}
	payload, err := env.Verify(a.trust.Keys)
	if err != nil {
		return auditFail("leaf %d: %v", idx, err)
	}
	hash := env.Hash()
	if r.MailboxID != "" {
		e, err := signing.ParseMailboxEntry(payload)
		if err != nil {
			return auditFail("leaf %d: %v", idx, err)
		}
		if e.V != env.Version() {
			return auditFail("leaf %d: payload version %d in a v%d envelope", idx, e.V, env.Version())
		}
		if e.LogIndex != idx || e.Mailbox != r.MailboxID || string(e.Event) != r.Event || e.ID != r.ID {
			return auditFail("leaf %d: payload (index %d, mailbox %s, %s) does not match its row", idx, e.LogIndex, e.Mailbox, e.Event)
		}
		m := a.mailboxes[r.MailboxID]
		if m == nil {
			m = &mailboxFold{}
			a.mailboxes[r.MailboxID] = m
		}
		if e.Prev != m.last || r.Seq != m.count {
			return auditFail("leaf %d: mailbox %s's chain is broken at entry %d", idx, r.MailboxID, r.Seq)
		}
		if m.facts, err = NextMailbox(m.facts, e); err != nil {
			return auditFail("leaf %d: mailbox %s: %v", idx, r.MailboxID, err)
		}
		m.last, m.count = hash, m.count+1
	} else {
		ev, err := signing.ParseEvidence(payload)
		if err != nil {
			return auditFail("leaf %d: %v", idx, err)
		}
		if ev.V != env.Version() {
			return auditFail("leaf %d: payload version %d in a v%d envelope", idx, ev.V, env.Version())
		}
		if ev.LogIndex != idx || ev.Letter != r.LetterID || string(ev.Event) != r.Event || ev.ID != r.ID {
			return auditFail("leaf %d: payload (index %d, letter %s, %s) does not match its row", idx, ev.LogIndex, ev.Letter, ev.Event)
		}
		l := a.letters[r.LetterID]
		if l == nil {
			l = &letterFold{}
			a.letters[r.LetterID] = l
		}
		if ev.Prev != l.last || r.Seq != l.count {
			return auditFail("leaf %d: letter %s's chain is broken at evidence %d", idx, r.LetterID, r.Seq)
		}
		if l.facts, err = NextLetter(l.facts, ev); err != nil {
			return auditFail("leaf %d: letter %s: %v", idx, r.LetterID, err)
		}
		l.last, l.count = hash, l.count+1
	}
	_, _, err = a.mem.Append(ctx, tlog.LeafHash(r.Envelope))
	return err
}

// tree checks the stored head, nodes and checkpoints against the tree the
// leaves give.
func (a *auditor) tree(ctx context.Context, head LogHead, external [][]byte, rep *AuditReport) error {
	tx := a.tx
	root, err := tlog.RootAt(ctx, a.mem, head.Size)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, head.Root) {
		return auditFail("the log head's root is not the root of the stored leaves")
	}
	// Proofs are served from the stored nodes: every one of them must be
	// the node the leaves give.
	for level := uint(0); head.Size>>level > 0; level++ {
		n := head.Size >> level
		for from := uint64(0); from < n; from += auditPage {
			ids := make([]tlog.NodeID, 0, auditPage)
			for i := from; i < min(from+auditPage, n); i++ {
				ids = append(ids, tlog.NodeID{Level: level, Index: i})
			}
			want, err := a.mem.ReadNodes(ctx, ids)
			if err != nil {
				return err
			}
			got, err := nodeReader{tx}.ReadNodes(ctx, ids)
			if err != nil {
				return auditFail("stored log nodes at level %d: %v", level, err)
			}
			for i := range ids {
				if !bytes.Equal(want[i], got[i]) {
					return auditFail("stored log node (%d, %d), used for proofs, does not match the leaves", level, ids[i].Index)
				}
			}
		}
	}
	rep.Root = hex.EncodeToString(root)
	check := func(what string, note []byte) error {
		cp, err := signing.OpenCheckpoint(note, a.trust)
		if err != nil {
			return auditFail("%s: %v", what, err)
		}
		if cp.Origin != a.s.origin {
			return auditFail("%s is for log %q, not %q", what, cp.Origin, a.s.origin)
		}
		if cp.Size > head.Size {
			return auditFail("%s is for size %d, beyond the log (%d): history was cut", what, cp.Size, head.Size)
		}
		r, err := tlog.RootAt(ctx, a.mem, cp.Size)
		if err != nil {
			return err
		}
		if !bytes.Equal(r, cp.Hash) {
			return auditFail("%s (size %d) does not match the log: history was rewritten", what, cp.Size)
		}
		return nil
	}
	var latest uint64
	if err := tx.Checkpoints(ctx, func(size uint64, note []byte) error {
		rep.Checkpoints++
		latest = max(latest, size)
		return check(fmt.Sprintf("stored checkpoint %d", size), note)
	}); err != nil {
		return err
	}
	// Every appending transaction stores the checkpoint of its new size: a
	// log that outgrew its latest checkpoint holds v2 entries without the
	// ML-DSA-65 signature that gives them their strength.
	if head.Size > 0 && latest != head.Size {
		return auditFail("the latest stored checkpoint is for size %d; the log holds %d", latest, head.Size)
	}
	for i, note := range external {
		rep.External++
		if err := check(fmt.Sprintf("external checkpoint %d", i+1), note); err != nil {
			return err
		}
	}
	return nil
}

// eachRow calls fn for every row that page lists, page by page in key
// order.
func eachRow[T any](page func(after string, limit int) ([]T, error), key func(T) string, fn func(T) error) error {
	for after := ""; ; {
		rows, err := page(after, auditPage)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(rows) < auditPage {
			return nil
		}
		after = key(rows[len(rows)-1])
	}
}

// letterRows compares every letter row with its fold.
func (a *auditor) letterRows(ctx context.Context) (int, error) {
	seen := 0
	err := eachRow(func(after string, n int) ([]string, error) { return a.tx.LetterIDs(ctx, after, n) },
		func(id string) string { return id }, func(id string) error {
			f := a.letters[id]
			if f == nil {
				return auditFail("letter %s has no evidence in the log", id)
			}
			l, err := a.tx.GetLetter(ctx, id, false)
			if err != nil {
				return err
			}
			if l.EvidenceCount != f.count || l.LastEvidence != f.last {
				return auditFail("letter %s records %d evidence, the log holds %d", id, l.EvidenceCount, f.count)
			}
			if err := sameLetterFacts(l, f.facts); err != nil {
				return auditFail("letter %s: %v", id, err)
			}
			seen++
			return nil
		})
	if err != nil {
		return 0, err
	}
	if seen != len(a.letters) {
		for id := range a.letters {
			if _, err := a.tx.GetLetter(ctx, id, false); err != nil {
				return 0, auditFail("evidence names letter %s, which is missing", id)
			}
		}
	}
	return seen, nil
}

// sameLetterFacts compares the access- and delivery-relevant columns of a
// letter row with what the log says.
func sameLetterFacts(l Letter, f LetterFacts) error {
	row := letterFactsOf(l)
	for _, c := range []struct{ col, row, log string }{
		{"state", row.State, f.State},
		{"route", row.Route, f.Route},
		{"recipient_mailbox", row.Recipient, f.Recipient},
	} {
		if c.row != c.log {
			return fmt.Errorf("%s is %q, the log says %q", c.col, c.row, c.log)
		}
	}
	return nil
}

// printJobRows compares every letter print job with the RelayToNonERDS
// that created it, and its cancellation with the letter's recall.
func (a *auditor) printJobRows(ctx context.Context) (int, error) {
	jobs := map[string]*letterFold{}
	for id, f := range a.letters {
		if f.facts.PrintJob != "" {
			jobs[f.facts.PrintJob] = a.letters[id]
		}
	}
	n := 0
	err := eachRow(func(after string, lim int) ([]PrintJob, error) { return a.tx.PrintJobs(ctx, after, lim) },
		func(j PrintJob) string { return j.ID }, func(j PrintJob) error {
			if j.Kind != JobLetter {
				return nil
			}
			n++
			f := jobs[j.ID]
			if f == nil {
				return auditFail("print job %s of letter %s was never relayed to print in the log", j.ID, j.LetterID)
			}
			delete(jobs, j.ID)
			switch {
			case a.letters[j.LetterID] != f:
				return auditFail("print job %s is of letter %s; the log relayed another letter to it", j.ID, j.LetterID)
			case j.Region != f.facts.Region:
				return auditFail("print job %s: region is %q, the log says %q", j.ID, j.Region, f.facts.Region)
			case f.facts.Postcode != "" && j.Postcode != f.facts.Postcode:
				return auditFail("print job %s: postcode is %q, the log says %q", j.ID, j.Postcode, f.facts.Postcode)
			case (f.facts.State == StateRecalled) != (j.State == JobCancelled):
				// A recalled letter's queued job is cancelled in the same
				// transaction; a job left queued would still be printed.
				return auditFail("print job %s is %s; the log says its letter is %s", j.ID, j.State, f.facts.State)
			}
			return nil
		})
	if err != nil {
		return 0, err
	}
	for id := range jobs {
		return 0, auditFail("the log relays a letter to print job %s, which is missing", id)
	}
	return n, nil
}

// mailboxRows compares every mailbox row and its credential rows with the
// mailbox's log entries.
func (a *auditor) mailboxRows(ctx context.Context) (int, error) {
	n := 0
	err := eachRow(func(after string, lim int) ([]Mailbox, error) { return a.tx.Mailboxes(ctx, after, lim) },
		func(m Mailbox) string { return m.ID }, func(m Mailbox) error {
			n++
			f := MailboxFacts{Status: StatusPending}
			if mf := a.mailboxes[m.ID]; mf != nil {
				f = mf.facts
			}
			if err := a.sameMailbox(ctx, m, f); err != nil {
				return auditFail("mailbox %s: %v", m.ID, err)
			}
			return nil
		})
	if err != nil {
		return 0, err
	}
	if n < len(a.mailboxes) {
		for id := range a.mailboxes {
			if _, err := a.tx.GetMailbox(ctx, id); err != nil {
				return 0, auditFail("the log names mailbox %s, which is missing", id)
			}
		}
	}
	return n, nil
}

func (a *auditor) sameMailbox(ctx context.Context, m Mailbox, f MailboxFacts) error {
	if m.Status != f.Status {
		return fmt.Errorf("status is %q, the log says %q", m.Status, f.Status)
	}
	if f.Status == StatusActive {
		if m.MatchKey != f.MatchKey {
			return fmt.Errorf("match_key is %q, the log says %q", m.MatchKey, f.MatchKey)
		}
		if m.HolderKey != f.Holder {
			return fmt.Errorf("holder_key is %q, the log says %q", m.HolderKey, f.Holder)
		}
	}
	creds, err := a.tx.Credentials(ctx, m.ID)
	if err != nil {
		return err
	}
	rows := map[string]string{}
	for _, c := range creds {
		if c.UnboundAt.IsZero() {
			rows[c.IdentityID] = c.SPKISHA256
		}
	}
	if f.Bound == nil {
		f.Bound = map[string]string{}
	}
	if !maps.Equal(rows, f.Bound) {
		for id, spki := range rows {
			if f.Bound[id] != spki {
				return fmt.Errorf("credential %s (key %s) is bound, the log does not bind it", id, spki)
			}
		}
		for id := range f.Bound {
			if _, ok := rows[id]; !ok {
				return fmt.Errorf("credential %s is bound in the log, its row is not", id)
			}
		}
	}
	return nil
}
