package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// TestAuditDetectsTampering alters or deletes rows of evidence and of the
// log directly in the database and checks that `npes audit` (app.Audit)
// names the damage, while an untouched log audits clean.
func TestAuditDetectsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sql  string
	}{
		{"payload of an evidence row changed", `UPDATE evidence SET envelope = set_byte(envelope, 20, get_byte(envelope, 20) # 1) WHERE log_index = (SELECT min(log_index) + 1 FROM evidence)`},
		{"evidence row deleted", `DELETE FROM evidence WHERE log_index = (SELECT min(log_index) FROM evidence)`},
		{"last evidence row deleted", `DELETE FROM evidence WHERE log_index = (SELECT max(log_index) FROM evidence)`},
		{"log node changed", `UPDATE log_nodes SET hash = sha256(hash) WHERE level = 1 AND idx = 0`},
		{"log head rolled back", `UPDATE log_head SET size = size - 1`},
		{"evidence moved to another letter", `UPDATE evidence SET seq = 99, letter_id = (SELECT id FROM letters ORDER BY id LIMIT 1) WHERE log_index = (SELECT max(log_index) FROM evidence)`},
		{"letter's evidence count changed", `UPDATE letters SET evidence_count = evidence_count - 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := storetest.PostgresURL(t)
			b := setup(t, url)
			org := b.party(t, orgReq)
			org.registerActive(orgAddress)
			citizen := b.party(t, citizenReq)
			citizen.registerActive(citizenAddress)
			for range 3 {
				if status, _, data := org.send(map[string]any{"recipient": map[string]string{"name": "Иванов И.И.", "address": citizenAddress},
					"registered": true, "subject": "s", "body": "b"}, ""); status != 201 {
					t.Fatalf("send: %s", data)
				}
			}
			// A checkpoint published to an auditor before the tampering.
			_, published, err := b.srv.Service.Checkpoint(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			cfg := app.Config{DataDir: b.srv.Data.Root, DatabaseURL: url}
			if _, err := app.Audit(t.Context(), cfg, [][]byte{published}); err != nil {
				t.Fatalf("clean log fails the audit: %v", err)
			}
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			tag, err := conn.Exec(context.Background(), tc.sql)
			if err != nil || tag.RowsAffected() == 0 {
				t.Fatalf("tampering: %v (%d rows)", err, tag.RowsAffected())
			}
			_, err = app.Audit(t.Context(), cfg, [][]byte{published})
			if !errors.Is(err, mailbox.ErrAudit) {
				t.Fatalf("audit after %q: %v, want ErrAudit", tc.name, err)
			}
			t.Logf("detected: %v", err)
		})
	}
}
