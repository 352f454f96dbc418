package reliability_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/internal/store/storetest"
)

// TestChecksDetectDamage proves the after-crash invariants can fail: each
// kind of half-written or duplicated state is made by hand, inside a
// transaction that is rolled back, and dbViolations must name it, while the
// undamaged database passes.
func TestChecksDetectDamage(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	d, _, base := inProcess(t, url, nil)
	org := d.party(t, orgReq)
	org.registerActive(t, base, orgAddress)
	d.party(t, citizenReq).registerActive(t, base, citizenAddress)
	ctx := t.Context()
	for i, letter := range []map[string]any{
		{"recipient": map[string]string{"name": "Иванов И.И.", "address": citizenAddress}, "registered": true, "subject": "s", "body": "b"},
		{"recipient": map[string]string{"name": "Сидоров С.С.", "address": printAddress}, "registered": true, "subject": "p", "body": "b"},
	} {
		r, _, err := org.send(ctx, base, letter, "self-"+string(rune('a'+i)),
			attachment{name: "a.txt", ctype: "text/plain", data: []byte("x")})
		if err != nil || r.status != 201 {
			t.Fatalf("send: %v %d %s", err, r.status, r.body)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if bad, err := dbViolations(ctx, conn); err != nil || len(bad) > 0 {
		t.Fatalf("undamaged database: %v %v", bad, err)
	}
	const electronic = `(SELECT id FROM letters WHERE route = 'electronic' LIMIT 1)`
	const printed = `(SELECT id FROM letters WHERE route = 'print' LIMIT 1)`
	damages := map[string][]string{
		"letter lost, its evidence kept": {
			`DELETE FROM letter_chunks WHERE letter_id = ` + electronic,
			`DELETE FROM idempotency_keys WHERE letter_id = ` + electronic,
			`DELETE FROM letters WHERE id = ` + electronic,
		},
		"key lost":                 {`DELETE FROM idempotency_keys WHERE letter_id = ` + electronic},
		"second key for a letter":  {`INSERT INTO idempotency_keys SELECT sender, key || '-dup', request_hash, letter_id, created_at FROM idempotency_keys LIMIT 1`},
		"evidence count off":       {`UPDATE letters SET evidence_count = evidence_count + 1 WHERE id = ` + electronic},
		"first evidence lost":      {`DELETE FROM evidence WHERE letter_id = ` + electronic + ` AND seq = (SELECT min(seq) FROM evidence WHERE letter_id = ` + electronic + `)`},
		"body lost":                {`DELETE FROM letter_chunks WHERE part = 0 AND letter_id = ` + electronic},
		"attachment lost":          {`DELETE FROM letter_chunks WHERE part = 1 AND letter_id = ` + electronic},
		"print job lost":           {`DELETE FROM print_jobs WHERE letter_id = ` + printed},
		"PDF lost":                 {`DELETE FROM blobs WHERE key LIKE 'pdf/%' AND key IN (SELECT 'pdf/' || id FROM print_jobs WHERE kind = 'letter')`},
		"S10 serial given twice":   {`DROP INDEX letters_tracking`, `UPDATE letters SET tracking = (SELECT max(tracking) FROM letters) WHERE tracking <> ''`},
		"print job of no letter":   {`UPDATE print_jobs SET letter_id = '00000000-0000-4000-8000-000000000000' WHERE kind = 'letter'`},
		"evidence of a lost print": {`DELETE FROM print_jobs WHERE letter_id = ` + printed, `DELETE FROM letter_chunks WHERE letter_id = ` + printed, `DELETE FROM idempotency_keys WHERE letter_id = ` + printed, `DELETE FROM letters WHERE id = ` + printed},
	}
	for name, stmts := range damages {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if tag, err := tx.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %s: %v", name, s, err)
			} else if tag.RowsAffected() == 0 && tag.String() != "DROP INDEX" {
				t.Fatalf("%s: %s changed nothing", name, s)
			}
		}
		bad, err := dbViolations(ctx, tx)
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bad) == 0 {
			t.Errorf("%s: not detected", name)
		} else {
			t.Logf("%s: %v", name, bad)
		}
	}
}
