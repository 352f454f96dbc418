package mailbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// hostile are characters that must never reach storage in one-line text:
// C0 and C1 controls, the line separators and bidirectional formatting.
var hostile = map[string]string{
	"NUL": "\x00", "ESC": "\x1b[31m", "CR": "\r", "LF": "\n", "CRLF": "\r\nBcc: x", "DEL": "\x7f",
	"C1 CSI": "\u009b", "NEL": "\u0085", "LSEP": "\u2028", "RLO": "\u202e", "RLI": "\u2067", "RLM": "\u200f", "ALM": "\u061c",
}

func newHygieneService(t *testing.T) (*mailbox.Service, mailbox.Caller) {
	return newHygieneServiceWith(t, nil)
}

func newHygieneServiceWith(t *testing.T, modify func(*mailbox.Config)) (*mailbox.Service, mailbox.Caller) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "npes.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	edPEM, mlPEM, _ := signing.GenerateOperatorKeys()
	sealer, _ := signing.LoadSealer(edPEM, mlPEM)
	keys, _ := mailbox.NewKeyring(make([]byte, 32))
	cfg := mailbox.Config{Store: st, Sealer: sealer, Keys: keys, Now: func() time.Time { return hygieneNow }, TempDir: t.TempDir()}
	if modify != nil {
		modify(&cfg)
	}
	svc, err := mailbox.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	// Registering binds the caller's certificate in the log, so the sender
	// has a real one.
	caPEM, caKeyPEM, err := certs.CreateCA("hygiene CA", hygieneNow.AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(caPEM, caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ca.Issue(certs.Request{Role: certs.RoleOrg, Name: "ОАО «Отправитель»", UNP: "100289066"}, hygieneNow)
	if err != nil {
		t.Fatal(err)
	}
	senderID, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		t.Fatal(err)
	}
	sender := mailbox.Caller{Identity: senderID, Cert: cred.Cert}
	operator := mailbox.Caller{Identity: certs.Identity{ID: "op-1", Role: certs.RoleOperator, Name: "op", Serial: "02"}}
	m, err := svc.RegisterMailbox(ctx, sender, mailbox.RegisterRequest{Address: "220030, г. Минск, ул. Энгельса, 6"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyAddress(ctx, operator, m.ID); err != nil {
		t.Fatal(err)
	}
	return svc, sender
}

var hygieneNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var de *mailbox.Error
	if !errors.As(err, &de) || de.Code != code {
		t.Errorf("error %v, want code %s", err, code)
	}
}

// TestTextFieldsRefuseControls: names, subjects and raw addresses with a
// control or bidi character are refused with the field's code at every
// entry point, before anything is stored or sealed.
func TestTextFieldsRefuseControls(t *testing.T) {
	ctx := context.Background()
	svc, sender := newHygieneService(t)
	const addr = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"
	for name, bad := range hostile {
		for _, tc := range []struct {
			field, code string
			sub         mailbox.Submission
		}{
			{"recipient name", "bad_recipient_name", mailbox.Submission{RecipientName: "Иванов" + bad + "И.И.", RecipientAddress: addr, Body: "b"}},
			{"subject", "bad_subject", mailbox.Submission{RecipientName: "Иванов И.И.", RecipientAddress: addr, Subject: "Счёт" + bad, Body: "b"}},
			{"recipient address", "bad_address", mailbox.Submission{RecipientName: "Иванов И.И.", RecipientAddress: "220013, г. Минск," + bad + " ул. Дорошевича, 8", Body: "b"}},
		} {
			d, err := svc.NewDraft()
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = svc.Submit(ctx, sender, tc.sub, d)
			d.Close()
			t.Run(name+" in "+tc.field, func(t *testing.T) { wantCode(t, err, tc.code) })
		}
		citizen := mailbox.Caller{Identity: certs.Identity{ID: "p-" + name, Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB4", Serial: "03"}}
		_, err := svc.RegisterMailbox(ctx, citizen, mailbox.RegisterRequest{Address: "220013, г. Минск," + bad + " ул. Дорошевича, 8"})
		t.Run(name+" in a registered address", func(t *testing.T) { wantCode(t, err, "bad_address") })
		citizen.Identity.Name = "Петров" + bad + "Пётр"
		_, err = svc.RegisterMailbox(ctx, citizen, mailbox.RegisterRequest{Address: addr})
		t.Run(name+" in the certificate's name", func(t *testing.T) { wantCode(t, err, "bad_holder_name") })
	}
	var n int
	if ls, _, err := svc.ListLetters(ctx, sender, "sent", "", 200); err != nil {
		t.Fatal(err)
	} else {
		n = len(ls)
	}
	if n != 0 {
		t.Fatalf("%d letters stored from refused submissions", n)
	}
}

// TestAttachmentNames: one rule (mailbox.AttachmentName) for the server
// and `npes read --out`: NFC, no separators or their look-alikes, nothing
// invisible, nothing Windows reinterprets, and no two names that one
// case-insensitive file system (or the body's file) would merge.
func TestAttachmentNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"счёт.pdf", "счёт.pdf"},
		{"scan 01.png", "scan 01.png"},
		{"e\u0301te\u0301.txt", "été.txt"}, // decomposed → NFC
		{"Отчёт 2026-01.pdf", "Отчёт 2026-01.pdf"},
		{"½ ставки.txt", "½ ставки.txt"},
	} {
		got, err := mailbox.AttachmentName(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", ".", "..", "../x", `a\b`, "a/b", ".hidden", "C:x", "a*b", "a?b", `a"b`, "a<b", "a|b",
		"a\u202eb.exe", "x\ny", "a\x00b", "a\x1bb",
		"invoice\u2024pdf", "etc\u2215passwd", "a\u2044b", "a\uff0fb", "a\uff3cb", "a\u29f8b", "a\u2216b", "a\ufe52b", "a\uff0eb", "a\uff1ab",
		"a\u200bb.pdf", "a\u200db.pdf", "a\u2060b.pdf", "\ufeffa.pdf", "a\u00adb.pdf", "a\u00a0b.pdf", "a\u3000b.pdf", "a\U000e0041b.pdf", "a\ue000b.pdf",
		"a.pdf.", "a.pdf ", " a.pdf",
		"CON", "nul.txt", "Com1.pdf", "lpt9", "AUX.tar.gz",
		"body.txt", "BODY.TXT", "Body.Txt",
	} {
		if got, err := mailbox.AttachmentName(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}

	svc, _ := newHygieneService(t)
	for _, pair := range [][2]string{
		{"счёт.pdf", "СЧЁТ.PDF"},
		{"été.txt", "e\u0301te\u0301.txt"},
		{"Report.pdf", "report.PDF"},
	} {
		d, err := svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.AddAttachment(pair[0], "application/pdf", bytes.NewReader([]byte("%PDF-1.4\n"))); err != nil {
			t.Fatalf("%q: %v", pair[0], err)
		}
		err = d.AddAttachment(pair[1], "application/pdf", bytes.NewReader([]byte("%PDF-1.4\n")))
		d.Close()
		wantCode(t, err, "duplicate_attachment")
	}
}

// TestBindCredentialRefusals: only a valid, unrevoked end-entity client
// certificate of the same holder becomes a mailbox credential; each
// refusal has its own code.
func TestBindCredentialRefusals(t *testing.T) {
	ctx := context.Background()
	caPEM, caKeyPEM, err := certs.CreateCA("binding CA", hygieneNow.AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(caPEM, caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caKeyPEM)
	caKey, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[string]bool{}
	svc, _ := newHygieneServiceWith(t, func(c *mailbox.Config) {
		c.Trust = ca.Pool()
		c.Revocations = certs.RevocationCheckerFunc(func(_ context.Context, serial string) (bool, error) { return revoked[serial], nil })
	})
	req := certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"}
	issue := func() *x509.Certificate {
		cred, err := ca.Issue(req, hygieneNow)
		if err != nil {
			t.Fatal(err)
		}
		return cred.Cert
	}
	// reissue signs a copy of a good certificate (same holder attributes)
	// with other extended key usages, as a foreign or careless CA would.
	reissue := func(eku []x509.ExtKeyUsage, isCA bool) *x509.Certificate {
		good := issue()
		tmpl := *good
		tmpl.ExtKeyUsage, tmpl.UnknownExtKeyUsage = eku, nil
		tmpl.IsCA, tmpl.BasicConstraintsValid = isCA, true
		tmpl.SerialNumber = new(big.Int).Add(good.SerialNumber, big.NewInt(1))
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Certificate(), good.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	holderCert := issue()
	holderID, _ := certs.IdentityFromCert(holderCert)
	holder := mailbox.Caller{Identity: holderID, Cert: holderCert}
	m, err := svc.RegisterMailbox(ctx, holder, mailbox.RegisterRequest{Address: "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"})
	if err != nil {
		t.Fatal(err)
	}
	revokedCert := issue()
	revoked[certs.FormatSerial(revokedCert.SerialNumber)] = true

	for _, tc := range []struct {
		name, code string
		cert       *x509.Certificate
	}{
		{"revoked", "certificate_revoked", revokedCert},
		{"no extended key usage", "no_extended_key_usage", reissue(nil, false)},
		{"server only", "server_certificate", reissue([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false)},
		{"any usage", "wrong_key_usage", reissue([]x509.ExtKeyUsage{x509.ExtKeyUsageAny}, false)},
		{"e-mail protection only", "wrong_key_usage", reissue([]x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, false)},
		{"a CA certificate", "not_end_entity", reissue([]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.BindCredential(ctx, holder, m.ID, tc.cert, "")
			wantCode(t, err, tc.code)
		})
	}
	// The same holder's good certificate is bound.
	if _, err := svc.BindCredential(ctx, holder, m.ID, issue(), ""); err != nil {
		t.Fatalf("a good certificate: %v", err)
	}
}
