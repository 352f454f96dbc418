package app_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// TestSeveralNodesOnePostgres runs two servers on one database (stateless
// nodes sharing the data directory's keys) under concurrent submissions:
// S10 serials stay unique and the evidence log stays one consistent tree.
func TestSeveralNodesOnePostgres(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	first := setup(t, url)
	second, err := app.Start(t.Context(), app.Config{DataDir: first.srv.Data.Root, DatabaseURL: url,
		HTTPAddr: "127.0.0.1:0", SMTPAddr: "off", SMTPSAddr: "off", Now: first.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Shutdown(context.Background()) })
	other := *first
	other.srv, other.base = second, "https://"+second.HTTPAddr.String()

	org := first.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := first.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	orgOnSecond := &party{t: t, b: &other, cred: org.cred, c: other.client(t, &org.cred)}

	const perNode = 15
	var mu sync.Mutex
	tracking := map[string]string{}
	var wg sync.WaitGroup
	for n, p := range []*party{org, orgOnSecond} {
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perNode / 3 {
					status, sent, data := p.send(map[string]any{
						"recipient":  map[string]string{"name": "Иванову И.И.", "address": citizenAddress},
						"registered": true, "subject": fmt.Sprintf("node %d worker %d #%d", n, w, i), "body": "x",
					}, "")
					if status != 201 {
						t.Errorf("send on node %d: %d %s", n, status, data)
						return
					}
					mu.Lock()
					if prev, dup := tracking[sent.Tracking]; dup {
						t.Errorf("S10 %s given to %s and %s", sent.Tracking, prev, sent.ID)
					}
					tracking[sent.Tracking] = sent.ID
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(tracking) != 2*perNode {
		t.Fatalf("%d letters, want %d", len(tracking), 2*perNode)
	}
	checkLog(t, first.srv.Store, first.srv.Service)
}

// checkLog recomputes the whole evidence log from its leaves: every index
// from 0 to the head has exactly one envelope, the envelopes verify, and the
// tree built from them has the stored root; every stored checkpoint is
// consistent with it.
func checkLog(t *testing.T, st mailbox.Store, svc *mailbox.Service) {
	t.Helper()
	ctx := t.Context()
	var head mailbox.LogHead
	var leaves []mailbox.EvidenceRecord
	err := st.View(ctx, func(tx mailbox.Tx) error {
		var err error
		if head, err = tx.GetLogHead(ctx); err != nil {
			return err
		}
		leaves, err = tx.EvidenceByIndex(ctx, 0, head.Size)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(leaves)) != head.Size {
		t.Fatalf("log head says %d leaves, %d stored", head.Size, len(leaves))
	}
	mem := tlog.NewMemoryStore()
	for i, l := range leaves {
		if l.LogIndex != uint64(i) {
			t.Fatalf("leaf %d has index %d", i, l.LogIndex)
		}
		if _, err := signing.VerifyEnvelope(l.Envelope, svc.JWKS()); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if _, _, err := mem.Append(ctx, tlog.LeafHash(l.Envelope)); err != nil {
			t.Fatal(err)
		}
	}
	root, err := tlog.RootAt(ctx, mem, mem.Size())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, head.Root) {
		t.Fatal("the stored root is not the root of the stored leaves")
	}
}
