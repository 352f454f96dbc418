package reliability_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// ack is what a client holds after a 201 (or 250): the letter id and the
// signed receipts handed out with it.
type ack struct {
	key      string
	letterID string
	content  string // content_sha256 of the 201
	bodySHA  string // SHA-256 of the body the client sent
	receipts [][]byte
}

// dbChecks are the database invariants after a crash or fault
// (PostgreSQL), each a query that must return no row:
//
//   - no evidence row without its letter, no idempotency key without its
//     letter, and exactly one key row per letter (every submission of the
//     suite carries a key, so a second row would be a duplicate letter);
//   - every letter is complete: its evidence count and chain length agree,
//     its first evidence is SubmissionAcceptance, its body and every
//     attachment part are stored, a printed letter has exactly one print
//     job and that job has its letter and its PDF;
//   - S10 serials are unique.
var dbChecks = []struct{ what, sql string }{
	{"evidence without its letter",
		`SELECT e.id, e.letter_id, e.event FROM evidence e LEFT JOIN letters l ON l.id = e.letter_id WHERE l.id IS NULL`},
	{"idempotency key without its letter",
		`SELECT k.key, k.letter_id FROM idempotency_keys k LEFT JOIN letters l ON l.id = k.letter_id WHERE l.id IS NULL`},
	{"letter without an idempotency key, or with several",
		`SELECT l.id, count(k.key) FROM letters l LEFT JOIN idempotency_keys k ON k.letter_id = l.id GROUP BY l.id HAVING count(k.key) <> 1`},
	{"letter whose evidence count disagrees with its evidence",
		`SELECT l.id, l.evidence_count, count(e.id) FROM letters l LEFT JOIN evidence e ON e.letter_id = l.id
		 GROUP BY l.id, l.evidence_count HAVING count(e.id) <> l.evidence_count OR count(e.id) = 0`},
	{"letter whose first evidence is not SubmissionAcceptance",
		`SELECT l.id, e.event FROM letters l JOIN evidence e ON e.letter_id = l.id AND e.seq = (SELECT min(seq) FROM evidence WHERE letter_id = l.id)
		 WHERE e.event <> 'SubmissionAcceptance'`},
	{"letter without its body",
		`SELECT l.id FROM letters l WHERE NOT EXISTS (SELECT 1 FROM letter_chunks c WHERE c.letter_id = l.id AND c.part = 0)`},
	{"letter with missing attachment parts",
		`SELECT l.id, jsonb_array_length(convert_from(l.attachments_json, 'UTF8')::jsonb), count(DISTINCT c.part)
		 FROM letters l LEFT JOIN letter_chunks c ON c.letter_id = l.id AND c.part > 0
		 WHERE l.attachments_json <> 'null'::bytea
		 GROUP BY l.id, l.attachments_json
		 HAVING count(DISTINCT c.part) <> jsonb_array_length(convert_from(l.attachments_json, 'UTF8')::jsonb)`},
	{"printed letter without exactly one print job",
		`SELECT l.id, count(j.id) FROM letters l LEFT JOIN print_jobs j ON j.letter_id = l.id
		 WHERE l.route = 'print' GROUP BY l.id HAVING count(j.id) <> 1`},
	{"print job without its PDF",
		`SELECT j.id FROM print_jobs j WHERE j.kind = 'letter' AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.key = 'pdf/' || j.id)`},
	{"print job without its letter",
		`SELECT j.id FROM print_jobs j LEFT JOIN letters l ON l.id = j.letter_id WHERE j.kind = 'letter' AND l.id IS NULL`},
	{"S10 serial used twice",
		`SELECT tracking, count(*) FROM letters WHERE tracking <> '' GROUP BY tracking HAVING count(*) > 1`},
}

// querier is what the checks need of a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// dbViolations runs dbChecks and describes every violation found.
func dbViolations(ctx context.Context, q querier) ([]string, error) {
	var out []string
	for _, c := range dbChecks {
		rows, err := q.Query(ctx, c.sql)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.what, err)
		}
		var bad []string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return nil, err
			}
			bad = append(bad, fmt.Sprint(vals))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", c.what, err)
		}
		if len(bad) > 0 {
			out = append(out, fmt.Sprintf("%s: %d rows, e.g. %v", c.what, len(bad), bad[:min(len(bad), 5)]))
		}
	}
	return out, nil
}

// invariants checks dbChecks and returns the letters by id and the
// idempotency key → letter map, for the caller's comparisons with what the
// clients were told.
func invariants(t testing.TB, dbURL string) (letters map[string]bool, keys map[string]string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	bad, err := dbViolations(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
	letters, keys = map[string]bool{}, map[string]string{}
	rows, err := conn.Query(ctx, `SELECT l.id, coalesce(k.key, '') FROM letters l LEFT JOIN idempotency_keys k ON k.letter_id = l.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			t.Fatal(err)
		}
		letters[id] = true
		if key != "" {
			keys[key] = id
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return letters, keys
}

// checkReceipts compares what clients were told with the database: every
// acknowledged letter exists with the same content digest; its first
// evidence is a SubmissionAcceptance whose signatures verify and whose
// content commits to the body the client sent; and the receipts handed out
// with a 201, if any, are byte for byte its first evidence rows.
func checkReceipts(t testing.TB, dbURL string, keys signing.JWKS, acks []ack) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, a := range acks {
		var digest string
		err := conn.QueryRow(ctx, `SELECT content_digest FROM letters WHERE id = $1`, a.letterID).Scan(&digest)
		if err != nil {
			t.Errorf("acknowledged letter %s (key %s) is gone: %v", a.letterID, a.key, err)
			continue
		}
		if a.content != "" && digest != a.content {
			t.Errorf("letter %s: content digest %s, the client was told %s", a.letterID, digest, a.content)
		}
		rows, err := conn.Query(ctx, `SELECT envelope FROM evidence WHERE letter_id = $1 ORDER BY seq LIMIT $2`, a.letterID, max(1, len(a.receipts)))
		if err != nil {
			t.Fatal(err)
		}
		var stored [][]byte
		for rows.Next() {
			var env []byte
			if err := rows.Scan(&env); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, env)
		}
		rows.Close()
		if len(stored) == 0 || (len(a.receipts) > 0 && len(stored) != len(a.receipts)) {
			t.Errorf("letter %s: %d receipts handed out, %d evidence rows", a.letterID, len(a.receipts), len(stored))
			continue
		}
		for i := range a.receipts {
			if !bytes.Equal(stored[i], a.receipts[i]) {
				t.Errorf("letter %s: receipt %d differs from the stored evidence", a.letterID, i)
			}
		}
		payload, err := signing.VerifyEnvelope(stored[0], keys)
		if err != nil {
			t.Errorf("letter %s: first evidence does not verify: %v", a.letterID, err)
			continue
		}
		ev, err := signing.ParseEvidence(payload)
		if err != nil {
			t.Errorf("letter %s: evidence payload: %v", a.letterID, err)
			continue
		}
		if ev.Event != signing.EventSubmissionAcceptance || ev.Letter != a.letterID || ev.Content == nil ||
			(a.bodySHA != "" && ev.Content.BodySHA256 != a.bodySHA) {
			t.Errorf("letter %s: first evidence says %s for %s, body %v", a.letterID, ev.Event, ev.Letter, ev.Content)
		}
	}
}

// audit runs `npes audit` on the deployment, with the checkpoints that
// clients kept: the whole log must verify from the first leaf, and every
// checkpoint ever handed out must still be consistent with it.
func audit(t testing.TB, d *deployment, checkpoints [][]byte) string {
	t.Helper()
	args := []string{"audit", "--data", d.dataDir, "--database-url", d.dbURL}
	dir := t.TempDir()
	for i, cp := range checkpoints {
		p := filepath.Join(dir, fmt.Sprintf("checkpoint-%d", i))
		if err := os.WriteFile(p, cp, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--checkpoint", p)
	}
	out, err := runNPES(t.Context(), t, args...)
	if err != nil || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("npes audit: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// jwksOf returns the deployment's evidence keys.
func (d *deployment) jwks(t testing.TB) signing.JWKS {
	t.Helper()
	s, err := dataDirOf(d).Sealer()
	if err != nil {
		t.Fatal(err)
	}
	return s.JWKS()
}

// noteKey is the checkpoint verifier key (note format).
func (d *deployment) noteKey(t testing.TB) string {
	t.Helper()
	s, err := dataDirOf(d).Sealer()
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.NoteVerifierKey(mailbox.LogOrigin(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
