package app_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// TestAuditRowsFollowTheLog changes, on both engines, each access- or
// delivery-relevant column straight in the database — the letter a
// registered letter goes to, its state and route, a mailbox's status,
// match key and holder, credential bindings, a print job's address — and
// expects `npes audit` to fail: these rows are a function of the log
// (issue 13 §6), and `UPDATE letters SET state='accepted',
// recipient_mailbox=…` must not let another person read a registered
// letter with a clean audit.
func TestAuditRowsFollowTheLog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, sql string
	}{
		{"letters.state", `UPDATE letters SET state = 'accepted' WHERE state = 'awaiting_acceptance'`},
		{"letters.recipient_mailbox", `UPDATE letters SET recipient_mailbox = (SELECT id FROM mailboxes WHERE kind = 'org') WHERE recipient_mailbox <> ''`},
		{"letters.state and recipient_mailbox", `UPDATE letters SET state = 'accepted', recipient_mailbox = (SELECT id FROM mailboxes WHERE status = 'pending') WHERE registered = 1`},
		{"letters.route", `UPDATE letters SET route = 'electronic' WHERE route = 'print'`},
		{"mailboxes.status", `UPDATE mailboxes SET status = 'active' WHERE status = 'pending'`},
		{"mailboxes.status deactivated", `UPDATE mailboxes SET status = 'pending' WHERE kind = 'org'`},
		{"mailboxes.match_key", `UPDATE mailboxes SET match_key = 'elsewhere' WHERE kind = 'person' AND status = 'active'`},
		{"mailboxes.holder_key", `UPDATE mailboxes SET holder_key = 'pn:9999999A999PB9' WHERE kind = 'person' AND status = 'active'`},
		{"mailbox_credentials row added", `INSERT INTO mailbox_credentials (mailbox_id, identity_id, serial, spki_sha256, bound_at, unbound_at)
			SELECT id, 'intruder', '0A', 'ff', 1, 0 FROM mailboxes WHERE kind = 'person' AND status = 'active'`},
		{"mailbox_credentials.identity_id", `UPDATE mailbox_credentials SET identity_id = 'intruder' WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE kind = 'person')`},
		{"mailbox_credentials.spki_sha256", `UPDATE mailbox_credentials SET spki_sha256 = 'ff' WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE kind = 'org')`},
		{"mailbox_credentials.unbound_at", `UPDATE mailbox_credentials SET unbound_at = 5 WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE kind = 'org')`},
		{"print_jobs.postcode", `UPDATE print_jobs SET postcode = '230005' WHERE kind = 'letter'`},
		{"print_jobs.region", `UPDATE print_jobs SET region = '230' WHERE kind = 'letter'`},
		{"print job forged for an electronic letter", `INSERT INTO print_jobs (id, kind, letter_id, region, postcode, recipient_name, state, available_at, created_at)
			SELECT 'forged-job', kind, (SELECT id FROM letters WHERE route = 'electronic'), region, postcode, recipient_name, 'queued', available_at, created_at
			FROM print_jobs WHERE kind = 'letter'`},
		{"mailbox entry deleted", `DELETE FROM mailbox_entries WHERE event = 'MailboxActivated'`},
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, tc := range cases {
			t.Run(engine+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				url := ""
				if engine == "postgres" {
					url = storetest.PostgresURL(t)
				}
				b := setup(t, url)
				auditRowsScenario(t, b)
				cfg := app.Config{DataDir: b.srv.Data.Root, DatabaseURL: url}
				if _, err := app.Audit(t.Context(), cfg, nil); err != nil {
					t.Fatalf("clean log fails the audit: %v", err)
				}
				if n := execSQL(t, engine, b, url, tc.sql); n == 0 {
					t.Fatalf("the tampering changed no row")
				}
				_, err := app.Audit(t.Context(), cfg, nil)
				if !errors.Is(err, mailbox.ErrAudit) {
					t.Fatalf("audit after changing %s: %v, want ErrAudit", tc.name, err)
				}
				t.Logf("detected: %v", err)
			})
		}
	}
}

// auditRowsScenario makes one of each row the audit compares: an org and
// a citizen with active mailboxes, a pending mailbox, a registered letter
// awaiting acceptance, and a letter routed to print with its print job.
func auditRowsScenario(t *testing.T, b *bundle) {
	t.Helper()
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	pending := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр Петрович", PersonalID: "3010190A002PB1"})
	pending.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": "220004, г. Минск, ул. Немига, 3, кв. 7"}, nil, 201)
	for _, l := range []map[string]any{
		{"recipient": map[string]string{"name": "Иванов И.И.", "address": citizenAddress}, "registered": true, "subject": "s", "body": "b"},
		{"recipient": map[string]string{"name": "Сидоров С.С.", "address": "220050, г. Минск, ул. Кирова, 1, кв. 2"}, "subject": "s", "body": "b"},
	} {
		if status, _, data := org.send(l, ""); status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
	}
}

// execSQL runs one statement on the server's database behind its back and
// returns the rows it changed.
func execSQL(t *testing.T, engine string, b *bundle, url, stmt string) int64 {
	t.Helper()
	ctx := context.Background()
	if engine == "postgres" {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tag, err := conn.Exec(ctx, stmt)
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		return tag.RowsAffected()
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.srv.Data.Root, "npes.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, strings.TrimSpace(stmt))
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	n, _ := res.RowsAffected()
	return n
}
