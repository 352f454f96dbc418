package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/npes/npes/mailbox"
)

// The set-based reads and writes of routing and group commit: one
// statement for the whole group of submissions instead of one per letter
// (issue 16). Each splits its list into statements of at most inChunk
// parameters, well under both engines' bound.

const inChunk = 5000

// placeholders returns "$from, $from+1, …" for n parameters.
func placeholders(from, n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('$')
		sb.WriteString(strconv.Itoa(from + i))
	}
	return sb.String()
}

// distinct returns the distinct non-empty values of vs, sorted.
func distinct(vs []string) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// eachChunk calls fn with the values of vs in chunks of at most inChunk.
func eachChunk(vs []string, fn func(chunk []string, args []any) error) error {
	for start := 0; start < len(vs); start += inChunk {
		chunk := vs[start:min(len(vs), start+inChunk)]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		if err := fn(chunk, args); err != nil {
			return err
		}
	}
	return nil
}

// GetMailboxes implements mailbox.MailboxTx.
func (t *Tx) GetMailboxes(ctx context.Context, ids []string, lock bool) ([]mailbox.Mailbox, error) {
	var out []mailbox.Mailbox
	err := eachChunk(distinct(ids), func(chunk []string, args []any) error {
		q := `SELECT ` + mailboxColumns + ` FROM mailboxes WHERE id IN (` + placeholders(1, len(chunk)) + `) ORDER BY id`
		if lock {
			q += t.D.ForShare
		}
		ms, err := t.listMailboxes(ctx, q, args...)
		out = append(out, ms...)
		return err
	})
	return out, err
}

// MailboxesByMatchKeys implements mailbox.MailboxTx.
func (t *Tx) MailboxesByMatchKeys(ctx context.Context, keys []string) (map[string][]mailbox.Mailbox, error) {
	out := map[string][]mailbox.Mailbox{}
	err := eachChunk(distinct(keys), func(chunk []string, args []any) error {
		ms, err := t.listMailboxes(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE match_key IN (`+
			placeholders(1, len(chunk))+`) ORDER BY match_key, created_at, id`, args...)
		for _, m := range ms {
			out[m.MatchKey] = append(out[m.MatchKey], m)
		}
		return err
	})
	return out, err
}

// MailboxesOfIdentities implements mailbox.MailboxTx.
func (t *Tx) MailboxesOfIdentities(ctx context.Context, identityIDs []string) (map[string][]mailbox.Mailbox, error) {
	out := map[string][]mailbox.Mailbox{}
	err := eachChunk(distinct(identityIDs), func(chunk []string, args []any) error {
		rows, err := t.Q.Query(ctx, `SELECT c.identity_id, `+prefixed("m.", mailboxColumns)+` FROM mailboxes m
			JOIN mailbox_credentials c ON c.mailbox_id = m.id
			WHERE c.identity_id IN (`+placeholders(1, len(chunk))+`) AND c.unbound_at = 0
			ORDER BY c.identity_id, m.created_at, m.id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var identity string
			m, err := scanMailbox(scanPrefix{rows, &identity})
			if err != nil {
				return err
			}
			out[identity] = append(out[identity], m)
		}
		return rows.Err()
	})
	return out, err
}

// scanPrefix scans a first column into dst, then the rest as the wrapped
// scanner's caller asks.
type scanPrefix struct {
	r   interface{ Scan(...any) error }
	dst any
}

func (s scanPrefix) Scan(dest ...any) error { return s.r.Scan(append([]any{s.dst}, dest...)...) }

// CredentialsOf implements mailbox.MailboxTx.
func (t *Tx) CredentialsOf(ctx context.Context, mailboxIDs []string) (map[string][]mailbox.Credential, error) {
	out := map[string][]mailbox.Credential{}
	err := eachChunk(distinct(mailboxIDs), func(chunk []string, args []any) error {
		rows, err := t.Q.Query(ctx, `SELECT mailbox_id, identity_id, serial, spki_sha256, bound_at, unbound_at, not_after, label
			FROM mailbox_credentials WHERE mailbox_id IN (`+placeholders(1, len(chunk))+`)
			ORDER BY mailbox_id, bound_at, identity_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c mailbox.Credential
			var b, u, na int64
			if err := rows.Scan(&c.MailboxID, &c.IdentityID, &c.Serial, &c.SPKISHA256, &b, &u, &na, &c.Label); err != nil {
				return err
			}
			c.BoundAt, c.UnboundAt, c.NotAfter = FromMicros(b), FromMicros(u), FromMicros(na)
			out[c.MailboxID] = append(out[c.MailboxID], c)
		}
		return rows.Err()
	})
	return out, err
}

// keyPairs returns the distinct (sender, key) pairs of ks, first
// occurrence kept, in order.
func keyPairs(ks []mailbox.IdempotencyKey) []mailbox.IdempotencyKey {
	seen := make(map[[2]string]bool, len(ks))
	out := make([]mailbox.IdempotencyKey, 0, len(ks))
	for _, k := range ks {
		p := [2]string{k.Sender, k.Key}
		if !seen[p] {
			seen[p] = true
			out = append(out, k)
		}
	}
	return out
}

// IdempotencyKeys implements mailbox.LetterTx: one statement of
// (sender = $1 AND key = $2) OR …, which both engines answer from the
// primary key.
func (t *Tx) IdempotencyKeys(ctx context.Context, ks []mailbox.IdempotencyKey) ([]mailbox.IdempotencyKey, error) {
	ks = keyPairs(ks)
	var out []mailbox.IdempotencyKey
	for start := 0; start < len(ks); start += inChunk / 2 {
		chunk := ks[start:min(len(ks), start+inChunk/2)]
		conds := make([]string, len(chunk))
		args := make([]any, 0, 2*len(chunk))
		for i, k := range chunk {
			conds[i] = "(sender = $" + strconv.Itoa(2*i+1) + " AND key = $" + strconv.Itoa(2*i+2) + ")"
			args = append(args, k.Sender, k.Key)
		}
		rows, err := t.Q.Query(ctx, `SELECT sender, key, request_hash, letter_id, created_at FROM idempotency_keys
			WHERE `+strings.Join(conds, " OR ")+` ORDER BY sender, key`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k mailbox.IdempotencyKey
			var at int64
			if err := rows.Scan(&k.Sender, &k.Key, &k.RequestHash, &k.LetterID, &at); err != nil {
				rows.Close()
				return nil, err
			}
			k.CreatedAt = FromMicros(at)
			out = append(out, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TryPutIdempotencyKeys implements mailbox.LetterTx: a multi-row INSERT …
// ON CONFLICT DO NOTHING RETURNING (PostgreSQL, and SQLite since 3.35).
//
// The keys are inserted in (sender, key) order, so that two transactions
// inserting some of the same keys wait for each other's in one order.
func (t *Tx) TryPutIdempotencyKeys(ctx context.Context, ks []mailbox.IdempotencyKey) ([]mailbox.IdempotencyKey, error) {
	ks = keyPairs(ks)
	slices.SortStableFunc(ks, func(a, b mailbox.IdempotencyKey) int {
		if c := strings.Compare(a.Sender, b.Sender); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	var out []mailbox.IdempotencyKey
	const per = inChunk / 5
	for start := 0; start < len(ks); start += per {
		chunk := ks[start:min(len(ks), start+per)]
		vals := make([]string, len(chunk))
		args := make([]any, 0, 5*len(chunk))
		for i, k := range chunk {
			vals[i] = "(" + placeholders(5*i+1, 5) + ")"
			args = append(args, k.Sender, k.Key, k.RequestHash, k.LetterID, Micros(k.CreatedAt))
		}
		rows, err := t.Q.Query(ctx, `INSERT INTO idempotency_keys (sender, key, request_hash, letter_id, created_at)
			VALUES `+strings.Join(vals, ", ")+` ON CONFLICT (sender, key) DO NOTHING RETURNING sender, key`, args...)
		if err != nil {
			return nil, err
		}
		stored := map[[2]string]bool{}
		for rows.Next() {
			var p [2]string
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				rows.Close()
				return nil, err
			}
			stored[p] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, k := range chunk {
			if stored[[2]string{k.Sender, k.Key}] {
				out = append(out, k)
			}
		}
	}
	return out, nil
}
