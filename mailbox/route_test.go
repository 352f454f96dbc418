package mailbox_test

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// TestRouting is the routing table of DESIGN §1 flow 3: exactly one active
// mailbox at the delivery point whose holder matches the written name gets
// the letter electronically; otherwise it is printed, with the reason.
func TestRouting(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "npes.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	edPEM, mlPEM, _ := signing.GenerateOperatorKeys()
	sealer, _ := signing.LoadSealer(edPEM, mlPEM)
	keys, _ := mailbox.NewKeyring(make([]byte, 32))
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	caPEM, caKey, _ := certs.CreateCA("routing CA", now.AddDate(0, -1, 0))
	ca, _ := certs.LoadCA(caPEM, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	svc, err := mailbox.NewService(mailbox.Config{Store: st, Sealer: sealer, Keys: keys, Trust: pool,
		Now: func() time.Time { return now }, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	caller := func(req certs.Request) mailbox.Caller {
		cred, err := ca.Issue(req, now)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := certs.IdentityFromCert(cred.Cert)
		return mailbox.Caller{Identity: id, Cert: cred.Cert}
	}
	operator := caller(certs.Request{Role: certs.RoleOperator, Name: "op"})
	register := func(c mailbox.Caller, address string, active bool) string {
		m, err := svc.RegisterMailbox(ctx, c, mailbox.RegisterRequest{Address: address})
		if err != nil {
			t.Fatal(err)
		}
		if active {
			if _, err := svc.VerifyAddress(ctx, operator, m.ID); err != nil {
				t.Fatal(err)
			}
		}
		return m.ID
	}
	const (
		flat5  = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"
		flat6  = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 6"
		gomel  = "246050, г. Гомель, ул. Билецкого, 10"
		grodno = "230025, г. Гродно, ул. Ожешко, 3, кв. 7"
	)
	sender := caller(certs.Request{Role: certs.RoleOrg, Name: "ОАО «Отправитель»", UNP: "100289066"})
	register(sender, "220030, г. Минск, ул. Энгельса, 6", true)
	ivan := register(caller(certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"}), flat5, true)
	// Another holder at the same flat, other name.
	anna := register(caller(certs.Request{Role: certs.RolePerson, Name: "Иванова Анна Петровна", PersonalID: "3140582A002PB4"}), flat5, true)
	// Two holders at one address whose names both match "Петрову П.П.".
	register(caller(certs.Request{Role: certs.RolePerson, Name: "Петров Пётр Павлович", PersonalID: "3140582A003PB5"}), gomel, true)
	register(caller(certs.Request{Role: certs.RolePerson, Name: "Петров Павел Петрович", PersonalID: "3140582A004PB6"}), gomel, true)
	// A pending mailbox.
	register(caller(certs.Request{Role: certs.RolePerson, Name: "Ковалёва Анна Сергеевна", PersonalID: "4150690B002PB1"}), grodno, false)
	// An organization.
	org := register(caller(certs.Request{Role: certs.RoleOrg, Name: "ООО «Хлебозавод Автомат»", UNP: "190123456"}), flat6, true)

	for _, tc := range []struct {
		name, address string
		route, reason string
		recipient     string
	}{
		{"Иванову Ивану Ивановичу", flat5, "electronic", "", ivan},
		{"Иванов И.И.", "г.Минск, ул.Дорошевича 8-5, 220013", "electronic", "", ivan},
		{"ИВАНОВОЙ А. П.", flat5, "electronic", "", anna},
		{"Иванову Ивану Ивановичу", flat6, "print", "no-mailbox", ""}, // right name, other flat
		{"Сидорову С.С.", flat5, "print", "no-mailbox", ""},           // nobody of that name
		{"Петрову П.П.", gomel, "print", "ambiguous", ""},
		{"Петрову Петру Павловичу", gomel, "electronic", "", ""},
		// A pending mailbox is not the sender's to know of: no-mailbox.
		{"Ковалевой Анне Сергеевне", grodno, "print", "no-mailbox", ""},
		{"Хлебозавод «Автомат», ООО", flat6, "electronic", "", org},
		{"Хлебозавод", flat6, "print", "no-mailbox", ""},
	} {
		d, err := svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := svc.Submit(ctx, sender, mailbox.Submission{RecipientName: tc.name, RecipientAddress: tc.address, Body: "x"}, d)
		d.Close()
		if err != nil {
			t.Fatalf("%s at %s: %v", tc.name, tc.address, err)
		}
		if v.Route != tc.route || v.RouteReason != tc.reason || (tc.recipient != "" && v.Recipient.Mailbox != tc.recipient) {
			t.Errorf("%q at %q: route %s (%s) to %q, want %s (%s) to %q", tc.name, tc.address, v.Route, v.RouteReason, v.Recipient.Mailbox, tc.route, tc.reason, tc.recipient)
		}
	}
}
