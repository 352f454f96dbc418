package sqlstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/npes/npes/mailbox"
)

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256("").
var emptyRoot = func() []byte { h := sha256.Sum256(nil); return h[:] }()

// LockLogHead implements mailbox.EvidenceTx: one SELECT … FOR UPDATE. The
// head row is created on first use; ON CONFLICT DO NOTHING makes that safe
// when two processes race. (Inserting first on every call cost a second
// statement in the lock's queue: an INSERT that meets the row waits for
// the transaction holding it, then the SELECT queues again.)
func (t *Tx) LockLogHead(ctx context.Context) (mailbox.LogHead, error) {
	h, err := t.readHead(ctx, t.D.ForUpdate)
	if errors.Is(err, mailbox.ErrNotFound) {
		if _, err := t.Q.Exec(ctx, `INSERT INTO log_head (id, size, root) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING`, emptyRoot); err != nil {
			return mailbox.LogHead{}, err
		}
		h, err = t.readHead(ctx, t.D.ForUpdate)
	}
	if err == nil {
		t.headLocked = true
	}
	return h, err
}

// HoldsLogHead implements mailbox.EvidenceTx.
func (t *Tx) HoldsLogHead() bool { return t.headLocked }

// GetLogHead implements mailbox.EvidenceTx.
func (t *Tx) GetLogHead(ctx context.Context) (mailbox.LogHead, error) {
	h, err := t.readHead(ctx, "")
	if errors.Is(err, mailbox.ErrNotFound) {
		return mailbox.LogHead{Size: 0, Root: emptyRoot}, nil
	}
	return h, err
}

func (t *Tx) readHead(ctx context.Context, lock string) (mailbox.LogHead, error) {
	var h mailbox.LogHead
	var size int64
	err := t.Q.QueryRow(ctx, `SELECT size, root FROM log_head WHERE id = 1`+lock).Scan(&size, &h.Root)
	h.Size = uint64(size)
	return h, err
}

// SetLogHead implements mailbox.EvidenceTx.
func (t *Tx) SetLogHead(ctx context.Context, h mailbox.LogHead) error {
	return t.execLater(ctx, `UPDATE log_head SET size = $1, root = $2 WHERE id = 1`, []any{int64(h.Size), h.Root}, nil)
}

// PutLogNodes implements mailbox.EvidenceTx in one multi-row INSERT.
func (t *Tx) PutLogNodes(ctx context.Context, nodes []mailbox.LogNode) error {
	for len(nodes) > 0 {
		n := min(len(nodes), 300)
		var sb strings.Builder
		args := make([]any, 0, 3*n)
		sb.WriteString(`INSERT INTO log_nodes (level, idx, hash) VALUES `)
		for i, nd := range nodes[:n] {
			if i > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "($%d, $%d, $%d)", 3*i+1, 3*i+2, 3*i+3)
			args = append(args, int(nd.Level), int64(nd.Index), nd.Hash)
		}
		if err := t.execLater(ctx, sb.String(), args, nil); err != nil {
			return err
		}
		nodes = nodes[n:]
	}
	return nil
}

// LogNodes implements mailbox.EvidenceTx with one query.
func (t *Tx) LogNodes(ctx context.Context, ids []mailbox.LogNode) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var sb strings.Builder
	args := make([]any, 0, 2*len(ids))
	sb.WriteString(`SELECT level, idx, hash FROM log_nodes WHERE `)
	for i, id := range ids {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		fmt.Fprintf(&sb, "(level = $%d AND idx = $%d)", 2*i+1, 2*i+2)
		args = append(args, int(id.Level), int64(id.Index))
	}
	rows, err := t.Q.Query(ctx, sb.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type key struct {
		l int
		i int64
	}
	found := make(map[key][]byte, len(ids))
	for rows.Next() {
		var k key
		var h []byte
		if err := rows.Scan(&k.l, &k.i, &h); err != nil {
			return nil, err
		}
		found[k] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := found[key{int(id.Level), int64(id.Index)}]
		if !ok {
			return nil, fmt.Errorf("log node (%d, %d): %w", id.Level, id.Index, mailbox.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

const evidenceColumns = `id, letter_id, seq, event, log_index, envelope, created_at`

// AddEvidence implements mailbox.EvidenceTx.
func (t *Tx) AddEvidence(ctx context.Context, e mailbox.EvidenceRecord) error {
	return t.AddEvidences(ctx, []mailbox.EvidenceRecord{e})
}

// AddEvidences implements mailbox.EvidenceTx with multi-row INSERTs.
func (t *Tx) AddEvidences(ctx context.Context, es []mailbox.EvidenceRecord) error {
	args := make([]any, 0, 7*len(es))
	for _, e := range es {
		args = append(args, e.ID, e.LetterID, e.Seq, e.Event, int64(e.LogIndex), e.Envelope, Micros(e.CreatedAt))
	}
	return t.insertRowsLater(ctx, "evidence", evidenceColumns, 7, args)
}

// EvidenceOf implements mailbox.EvidenceTx.
func (t *Tx) EvidenceOf(ctx context.Context, letterID string) ([]mailbox.EvidenceRecord, error) {
	return t.listEvidence(ctx, `SELECT `+evidenceColumns+`, '' FROM evidence WHERE letter_id = $1 ORDER BY seq`, letterID)
}

// EvidenceSummaries implements mailbox.EvidenceTx: every listed letter's
// evidence without the envelopes, in one query.
func (t *Tx) EvidenceSummaries(ctx context.Context, letterIDs []string) ([]mailbox.EvidenceRecord, error) {
	if len(letterIDs) == 0 {
		return nil, nil
	}
	ph := make([]string, len(letterIDs))
	args := make([]any, len(letterIDs))
	for i, id := range letterIDs {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = id
	}
	rows, err := t.Q.Query(ctx, `SELECT id, letter_id, seq, event, log_index, created_at FROM evidence
		WHERE letter_id IN (`+strings.Join(ph, ", ")+`) ORDER BY letter_id, seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.EvidenceRecord
	for rows.Next() {
		var e mailbox.EvidenceRecord
		var idx, created int64
		if err := rows.Scan(&e.ID, &e.LetterID, &e.Seq, &e.Event, &idx, &created); err != nil {
			return nil, err
		}
		e.LogIndex, e.CreatedAt = uint64(idx), FromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// EvidenceByIndex implements mailbox.EvidenceTx: letter evidence and
// mailbox entries, merged in log order.
func (t *Tx) EvidenceByIndex(ctx context.Context, from, to uint64) ([]mailbox.EvidenceRecord, error) {
	return t.listEvidence(ctx, `SELECT `+evidenceColumns+`, '' FROM evidence WHERE log_index >= $1 AND log_index < $2
		UNION ALL
		SELECT id, '', seq, event, log_index, envelope, created_at, mailbox_id FROM mailbox_entries
		WHERE log_index >= $1 AND log_index < $2
		ORDER BY 5`, int64(from), int64(to))
}

// AddMailboxEntries implements mailbox.EvidenceTx.
func (t *Tx) AddMailboxEntries(ctx context.Context, es []mailbox.EvidenceRecord) error {
	args := make([]any, 0, 7*len(es))
	for _, e := range es {
		args = append(args, e.ID, e.MailboxID, e.Seq, e.Event, int64(e.LogIndex), e.Envelope, Micros(e.CreatedAt))
	}
	return t.insertRows(ctx, "mailbox_entries", mailboxEntryColumns, 7, args)
}

const mailboxEntryColumns = `id, mailbox_id, seq, event, log_index, envelope, created_at`

// MailboxEntriesOf implements mailbox.EvidenceTx.
func (t *Tx) MailboxEntriesOf(ctx context.Context, mailboxID string) ([]mailbox.EvidenceRecord, error) {
	return t.listEvidence(ctx, `SELECT id, '', seq, event, log_index, envelope, created_at, mailbox_id
		FROM mailbox_entries WHERE mailbox_id = $1 ORDER BY seq`, mailboxID)
}

// SetLetterChains implements mailbox.EvidenceTx: one UPDATE for all the
// letters, with CASE expressions keyed by id.
func (t *Tx) SetLetterChains(ctx context.Context, ls []mailbox.Letter) error {
	for len(ls) > 0 {
		n := min(len(ls), 500)
		var last, count, in strings.Builder
		args := make([]any, 0, 3*n)
		for i, l := range ls[:n] {
			fmt.Fprintf(&last, " WHEN $%d THEN $%d", 3*i+1, 3*i+2)
			fmt.Fprintf(&count, " WHEN $%d THEN CAST($%d AS INTEGER)", 3*i+1, 3*i+3)
			if i > 0 {
				in.WriteString(", ")
			}
			fmt.Fprintf(&in, "$%d", 3*i+1)
			args = append(args, l.ID, l.LastEvidence, l.EvidenceCount)
		}
		q := `UPDATE letters SET last_evidence = CASE id` + last.String() + ` END,
			evidence_count = CASE id` + count.String() + ` END WHERE id IN (` + in.String() + `)`
		check := func(got int64) error {
			if got != int64(n) {
				return fmt.Errorf("updating the evidence chains of %d letters: %d found: %w", n, got, mailbox.ErrNotFound)
			}
			return nil
		}
		if err := t.execLater(ctx, q, args, check); err != nil {
			return err
		}
		ls = ls[n:]
	}
	return nil
}

func (t *Tx) listEvidence(ctx context.Context, q string, args ...any) ([]mailbox.EvidenceRecord, error) {
	rows, err := t.Q.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.EvidenceRecord
	for rows.Next() {
		var e mailbox.EvidenceRecord
		var idx, created int64
		dest := []any{&e.ID, &e.LetterID, &e.Seq, &e.Event, &idx, &e.Envelope, &created, &e.MailboxID}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		e.LogIndex, e.CreatedAt = uint64(idx), FromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PutCheckpoint implements mailbox.EvidenceTx.
func (t *Tx) PutCheckpoint(ctx context.Context, size uint64, note []byte, at time.Time) error {
	return t.execLater(ctx, `INSERT INTO checkpoints (size, note, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (size) DO NOTHING`, []any{int64(size), note, Micros(at)}, nil)
}

// LatestCheckpoint implements mailbox.EvidenceTx.
func (t *Tx) LatestCheckpoint(ctx context.Context) (uint64, []byte, error) {
	var size int64
	var note []byte
	err := t.Q.QueryRow(ctx, `SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1`).Scan(&size, &note)
	return uint64(size), note, err
}

// CheckpointAtLeast implements mailbox.EvidenceTx.
func (t *Tx) CheckpointAtLeast(ctx context.Context, size uint64) (uint64, []byte, error) {
	var got int64
	var note []byte
	err := t.Q.QueryRow(ctx, `SELECT size, note FROM checkpoints WHERE size >= $1 ORDER BY size LIMIT 1`, int64(size)).Scan(&got, &note)
	return uint64(got), note, err
}

// Checkpoints implements mailbox.EvidenceTx.
func (t *Tx) Checkpoints(ctx context.Context, fn func(uint64, []byte) error) error {
	rows, err := t.Q.Query(ctx, `SELECT size, note FROM checkpoints ORDER BY size`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var size int64
		var note []byte
		if err := rows.Scan(&size, &note); err != nil {
			return err
		}
		if err := fn(uint64(size), note); err != nil {
			return err
		}
	}
	return rows.Err()
}
