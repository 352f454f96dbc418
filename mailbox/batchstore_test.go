package mailbox

import (
	"bytes"
	"crypto/rand"
	"encoding/gob"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/npes/npes/certs"
)

func batchStoreService(t testing.TB) *Service {
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	k, err := NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	return &Service{cfg: Config{Keys: k}}
}

// cyrillicText is n bytes of words drawn at random, so it compresses
// about as letter text does, not as one repeated paragraph.
func cyrillicText(r *mrand.Rand, n int) string {
	words := strings.Fields("уважаемый гражданин извещаем вас что по состоянию на декабрь " +
		"года за вами числится задолженность по налогу на недвижимость в размере рублей " +
		"просим погасить её в срок до числа включительно в случае неуплаты будет начислена пеня " +
		"инспекция министерства по налогам и сборам республики беларусь по району города минска " +
		"адрес улица дом квартира телефон справки почтовое отделение номер заказное письмо")
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			fmt.Fprintf(&b, " %d", r.IntN(100000))
		}
		b.WriteByte(' ')
	}
	return b.String()
}

func batchInputOf(n, bodyBytes int) BatchInput {
	r := mrand.New(mrand.NewPCG(1, 2))
	in := BatchInput{Files: map[string]BatchFile{"f": {FileName: "a.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4")}}}
	for i := 1; i <= n; i++ {
		l := BatchLetter{Line: i, Submission: Submission{RecipientName: "Петров Пётр",
			RecipientAddress: "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5", Registered: true,
			Subject: fmt.Sprintf("Уведомление № %d", i), Body: cyrillicText(r, bodyBytes)}}
		if i%3 == 0 {
			l.Attachments = []string{"f"}
		}
		if i%7 == 0 {
			l.Submission, l.Err = Submission{}, Errorf(ErrInvalid, "bad_line", "line %d is not JSON", i)
		}
		in.Letters = append(in.Letters, l)
	}
	return in
}

// TestStoredBatchRoundTrip: a stored request opens to the lines, files
// and role it was made from, in the current (compressed, line by line)
// form and in the earlier one (one bare gob), which batches stored before
// may still be in.
func TestStoredBatchRoundTrip(t *testing.T) {
	s := batchStoreService(t)
	in := batchInputOf(50, 2000)
	c := Caller{Identity: certs.Identity{Role: certs.RoleOrg}}
	check := func(name string, blob []byte) {
		t.Helper()
		gc, got, err := s.openBatchInput("b1", blob)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if gc.Identity.Role != certs.RoleOrg || !reflect.DeepEqual(got.Files, in.Files) || len(got.Letters) != len(in.Letters) {
			t.Fatalf("%s: role %q, %d files, %d lines", name, gc.Identity.Role, len(got.Files), len(got.Letters))
		}
		for i, l := range got.Letters {
			w := in.Letters[i]
			if l.Line != w.Line || !reflect.DeepEqual(l.Submission, w.Submission) || !reflect.DeepEqual(l.Attachments, w.Attachments) ||
				(l.Err == nil) != (w.Err == nil) || (l.Err != nil && l.Err.Error() != w.Err.Error()) {
				t.Fatalf("%s: line %d is %+v, want %+v", name, i+1, l, w)
			}
		}
	}
	blob, err := s.sealBatchInput("b1", c, in)
	if err != nil {
		t.Fatal(err)
	}
	check("compressed", blob)
	if _, _, err := s.openBatchInput("b2", blob); err == nil {
		t.Fatal("a stored request opened under another batch's id")
	}

	old := storedBatch{Role: certs.RoleOrg, Files: in.Files}
	for _, l := range in.Letters {
		sl := storedLine{Line: l.Line, Submission: l.Submission, Attachments: l.Attachments}
		if l.Err != nil {
			sl.ErrCode, sl.ErrMessage = "bad_line", l.Err.(*Error).Message
		}
		old.Lines = append(old.Lines, sl)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(old); err != nil {
		t.Fatal(err)
	}
	oldBlob, err := s.sealBlob("b1", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	check("earlier form", oldBlob)
	t.Logf("50 lines of 2,000 bytes: %d bytes stored, %d before compression", len(blob), len(oldBlob))
}

// BenchmarkSealBatchInput: storing a batch of 1,000 10 KiB letters as the
// 202 does.
func BenchmarkSealBatchInput(b *testing.B) {
	s := batchStoreService(b)
	in := batchInputOf(1000, 10240)
	c := Caller{Identity: certs.Identity{Role: certs.RoleOrg}}
	var n int
	for b.Loop() {
		blob, err := s.sealBatchInput("b1", c, in)
		if err != nil {
			b.Fatal(err)
		}
		n = len(blob)
	}
	b.ReportMetric(float64(n), "stored-bytes")
}
