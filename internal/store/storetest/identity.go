package storetest

import (
	"testing"

	"github.com/google/uuid"

	"github.com/npes/npes/mailbox"
)

func init() { register("DatabaseIdentity", testDatabaseIdentity) }

// testDatabaseIdentity: every database is born with its own UUID under the
// state key "database_id" (migration 00005), which data directories record
// to refuse a command pointed at another database.
func testDatabaseIdentity(t *testing.T, newStore Factory) {
	ids := map[string]bool{}
	for range 2 {
		s := newStore(t)
		var v []byte
		mustTx(t, s, func(tx mailbox.Tx) error {
			var err error
			v, err = tx.GetState(ctx(t), "database_id")
			return err
		})
		id, err := uuid.ParseBytes(v)
		if err != nil || id.Version() != 4 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("database_id %q: %v (version %d, variant %v); want a random UUID", v, err, id.Version(), id.Variant())
		}
		if ids[id.String()] {
			t.Fatalf("two databases share the identity %s", id)
		}
		ids[id.String()] = true
	}
}
