package mailbox_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/internal/coretest"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

type clock = coretest.Clock

// lifecycle is the language of a registered electronic letter's evidence:
// submission, notification, then at most one outcome.
var lifecycle = regexp.MustCompile(`^SubmissionAcceptance NotificationForAcceptance( ConsignmentAcceptance ContentHandover| ConsignmentRejection| AcceptanceRejectionExpiry( RelayToNonERDS)?)?$`)

// TestRegisteredLetterStateMachine drives registered letters with random
// sequences of accept, refuse, read, deadline sweeps and clock jumps, and
// checks after every step that the evidence is a word of the lifecycle, the
// state agrees with the last event, and nothing happens twice.
func TestRegisteredLetterStateMachine(t *testing.T) {
	ctx := context.Background()
	w := newTestWorld(t, storetest.NewSQLite(t), nil)
	svc, clk, org, person, pcred := w.svc, w.clk, w.org, w.person, w.personCred
	kb, _ := pem.Decode(pcred.KeyPEM)
	key, _ := x509.ParsePKCS8PrivateKey(kb.Bytes)
	sign := func(v mailbox.LetterView, decision string) string {
		payload, _ := json.Marshal(mailbox.NewStatement(v, decision, "", clk.Now()))
		jws, err := signing.SignCompact(key.(crypto.Signer), []*x509.Certificate{pcred.Cert}, payload)
		if err != nil {
			t.Fatal(err)
		}
		return jws
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 25 {
		d, err := svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		sub := mailbox.Submission{RecipientName: "Иванову И.И.", RecipientAddress: "г. Минск, ул. Дорошевича 8-5, 220013",
			Registered: true, Subject: fmt.Sprint("trial ", trial), Body: "x"}
		if rng.IntN(2) == 0 {
			sub.PrintIfUnsignedAfter = 48 * time.Hour
		}
		v, _, err := svc.Submit(ctx, org, sub, d)
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		var history []string
		for step := range 8 {
			op := rng.IntN(5)
			var opErr error
			switch op {
			case 0:
				cur, _ := svc.GetLetter(ctx, person, v.ID)
				_, opErr = svc.Accept(ctx, person, v.ID, sign(cur, mailbox.DecisionAccept))
			case 1:
				cur, _ := svc.GetLetter(ctx, person, v.ID)
				_, opErr = svc.Refuse(ctx, person, v.ID, sign(cur, mailbox.DecisionRefuse))
			case 2:
				_, opErr = svc.Content(ctx, person, v.ID)
			case 3:
				_, opErr = svc.ExpireDue(ctx)
			case 4:
				clk.Add(time.Duration(rng.IntN(6)) * 24 * time.Hour)
			}
			history = append(history, fmt.Sprintf("op%d:%v", op, opErr != nil))
			cur, err := svc.GetLetter(ctx, org, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			var events []string
			for _, e := range cur.Evidence {
				events = append(events, e.Event)
			}
			word := strings.Join(events, " ")
			if !lifecycle.MatchString(word) {
				t.Fatalf("trial %d step %d after %v: evidence %q is not a lifecycle", trial, step, history, word)
			}
			want := map[string]string{
				"NotificationForAcceptance": mailbox.StateAwaitingAcceptance,
				"ContentHandover":           mailbox.StateAccepted,
				"ConsignmentRejection":      mailbox.StateRefused,
				"AcceptanceRejectionExpiry": mailbox.StateExpired,
				"RelayToNonERDS":            mailbox.StatePrintQueued,
			}[events[len(events)-1]]
			if cur.State != want {
				t.Fatalf("trial %d step %d: state %s after %s", trial, step, cur.State, events[len(events)-1])
			}
			// Content only after acceptance, for the recipient.
			_, cerr := svc.Content(ctx, person, v.ID)
			if (cur.State == mailbox.StateAccepted) != (cerr == nil) {
				t.Fatalf("trial %d step %d: state %s, content error %v", trial, step, cur.State, cerr)
			}
			if sub.PrintIfUnsignedAfter == 0 && strings.Contains(word, "RelayToNonERDS") {
				t.Fatalf("trial %d: printed without print-if-unsigned", trial)
			}
		}
	}
	// The whole log still audits from the first leaf.
	if _, err := svc.Audit(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
