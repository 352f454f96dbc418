package storetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/npes/npes/mailbox"
)

// TestEveryTxMethodHasASubtest keeps the suite complete: a method added to
// mailbox.Tx without a subtest in methods fails here, and so does a
// subtest whose method is gone.
func TestEveryTxMethodHasASubtest(t *testing.T) {
	tx := reflect.TypeFor[mailbox.Tx]()
	var want []string
	for i := range tx.NumMethod() {
		want = append(want, tx.Method(i).Name)
	}
	have := MethodNames()
	for _, m := range want {
		if !slices.Contains(have, m) {
			t.Errorf("mailbox.Tx.%s has no subtest in storetest (add one with method(%q, …))", m, m)
		}
	}
	for _, m := range have {
		if !slices.Contains(want, m) {
			t.Errorf("storetest has a subtest for %s, which mailbox.Tx does not have", m)
		}
	}
}
