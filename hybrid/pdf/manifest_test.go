package pdf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRenderManifest(t *testing.T) {
	m := Manifest{Centre: "РЦ Гомель", Regions: []string{"246", "247"}, Day: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}
	for i := range 60 { // more than one page
		m.Items = append(m.Items, ManifestItem{Tracking: fmt.Sprintf("RR%08d5BY", i), Postcode: fmt.Sprintf("2460%02d", i),
			RecipientName: "Сідаровічу Сідару Ўладзіміравічу " + fmt.Sprint(i), Sheets: 1 + i%3, JobID: fmt.Sprint("j", i)})
	}
	doc, err := RenderManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	again, err := RenderManifest(m)
	if err != nil || !bytes.Equal(doc, again) {
		t.Fatal("the same manifest renders to different bytes")
	}
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftotext (poppler-utils) is required in CI")
		}
		t.Skip("pdftotext not installed")
	}
	path := filepath.Join(t.TempDir(), "m.pdf")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{"Список почтовых отправлений", "РЦ Гомель", "RR000000005BY", "246059", "Сідаровічу Сідару Ўладзіміравічу 59",
		"Итого отправлений: 60, листов: 120", "Страница 2 из 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext lacks %q", want)
		}
	}
	// Presorted order is kept.
	if strings.Index(text, "246001") > strings.Index(text, "246002") {
		t.Error("items out of order")
	}
}
