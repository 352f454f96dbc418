package cli_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/npes/npes/internal/store/storetest"
)

// TestCommandsRefuseAnotherDatabase: a data directory belongs to one
// database, and every command that opens a database works on that one or
// not at all. Without the check, `ca revoke` run without the server's
// NPES_DATABASE_URL "revoked" into a fresh SQLite file in the data directory
// and the certificate kept working.
func TestCommandsRefuseAnotherDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("postgres", "s3cret-password") // trust auth ignores it
	server := map[string]string{"NPES_DATA": data, "NPES_DATABASE_URL": u.String()}
	noURL := map[string]string{"NPES_DATA": data}
	another := map[string]string{"NPES_DATA": data, "NPES_DATABASE_URL": storetest.PostgresURL(t)}

	if code, out, errs := npes(t, server, "init"); code != 0 || !strings.Contains(out, "database.json") {
		t.Fatalf("init: %d %s %s", code, out, errs)
	}
	raw, err := os.ReadFile(filepath.Join(data, "database.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]string
	if err := json.Unmarshal(raw, &rec); err != nil || rec["engine"] != "postgres" || len(rec["database_id"]) != 36 || len(rec) != 2 {
		t.Fatalf("database.json = %s (%v)", raw, err)
	}
	if strings.Contains(string(raw), "s3cret") || strings.Contains(string(raw), "127.0.0.1") {
		t.Fatalf("database.json records the URL: %s", raw)
	}
	code, out, errs := npes(t, server, "ca", "issue", "--role", "person", "--name", "Иванов Иван", "--personal-id", "3140582A001PB3", "--out", filepath.Join(dir, "ivan"))
	if code != 0 {
		t.Fatalf("ca issue: %d %s %s", code, out, errs)
	}
	serial := strings.TrimSuffix(strings.Fields(strings.SplitN(out, "serial ", 2)[1])[0], ",")

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"revoke without the URL", noURL, []string{"ca", "revoke", "--serial", serial}, "NPES_DATABASE_URL"},
		{"list without the URL", noURL, []string{"ca", "list"}, "NPES_DATABASE_URL"},
		{"issue without the URL", noURL, []string{"ca", "issue", "--role", "org", "--name", "X", "--unp", "100289066", "--out", filepath.Join(dir, "x1")}, "NPES_DATABASE_URL"},
		{"audit without the URL", noURL, []string{"audit"}, "NPES_DATABASE_URL"},
		{"init without the URL", noURL, []string{"init"}, "NPES_DATABASE_URL"},
		{"revoke in another database", another, []string{"ca", "revoke", "--serial", serial}, "belongs to the database with id " + rec["database_id"]},
		{"init with another database", another, []string{"init"}, "belongs to the database with id " + rec["database_id"]},
	} {
		code, out, errs := npes(t, tc.env, tc.args...)
		if code == 0 || !strings.Contains(out+errs, tc.want) || !strings.Contains(out+errs, "wrong database") {
			t.Errorf("%s: exit %d, output %q %q; want a refusal naming %q", tc.name, code, out, errs, tc.want)
		}
		if _, err := os.Stat(filepath.Join(data, "npes.db")); err == nil {
			t.Fatalf("%s: created a SQLite database in the data directory", tc.name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x1")); err == nil {
		t.Fatal("a refused ca issue wrote a credential")
	}

	// On the server's database the same commands work.
	if code, out, errs := npes(t, server, "ca", "revoke", "--serial", serial); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("ca revoke: %d %s %s", code, out, errs)
	}
	if code, out, _ := npes(t, server, "ca", "list"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("ca list: %d %s", code, out)
	}
}

// TestSQLiteDataDirRefusesAnotherDatabase: the same for a SQLite data
// directory: a PostgreSQL URL, or a database file from another deployment,
// is refused.
func TestSQLiteDataDirRefusesAnotherDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, other := filepath.Join(dir, "data"), filepath.Join(dir, "other")
	for _, d := range []string{data, other} {
		if code, out, errs := npes(t, map[string]string{"NPES_DATA": d}, "init"); code != 0 {
			t.Fatalf("init %s: %d %s %s", d, code, out, errs)
		}
	}
	env := map[string]string{"NPES_DATA": data}
	if code, out, errs := npes(t, env, "ca", "list"); code != 0 {
		t.Fatalf("ca list: %d %s %s", code, out, errs)
	}
	withURL := map[string]string{"NPES_DATA": data, "NPES_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none"}
	if code, out, errs := npes(t, withURL, "ca", "list"); code == 0 || !strings.Contains(errs, "unset --database-url and NPES_DATABASE_URL") {
		t.Fatalf("ca list with a PostgreSQL URL on a SQLite directory: %d %s %s", code, out, errs)
	}

	// Another deployment's database file in its place.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(data, "npes.db"+suffix))
		b, err := os.ReadFile(filepath.Join(other, "npes.db"+suffix))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(data, "npes.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errs := npes(t, env, "ca", "list"); code == 0 || !strings.Contains(errs, "wrong database") {
		t.Fatalf("ca list on another deployment's database: %d %s %s", code, out, errs)
	}

	// A missing database file is not silently recreated.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(data, "npes.db"+suffix))
	}
	if code, out, errs := npes(t, env, "ca", "list"); code == 0 || !strings.Contains(errs, "is missing") {
		t.Fatalf("ca list without the database file: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(data, "npes.db")); err == nil {
		t.Fatal("a command recreated the missing SQLite database")
	}
}
