package pdf

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jung-kurt/gofpdf"
)

// ManifestItem is one posted letter of a posting manifest.
type ManifestItem struct {
	Tracking      string
	Postcode      string
	RecipientName string
	Sheets        int
	JobID         string
}

// Manifest is a print centre's posting manifest of one day, presorted by
// postcode (the order the caller gives; hybrid.Queue.Manifest sorts).
type Manifest struct {
	Centre  string
	Regions []string
	Day     time.Time // the Belarusian day the letters were posted
	Items   []ManifestItem
}

// manifestSanitizer is built once: the coverage of the fonts takes a scan
// of their character maps.
var manifestSanitizer = sync.OnceValues(func() (*sanitizer, error) {
	cov, err := newCoverage(fontFaces())
	if err != nil {
		return nil, err
	}
	return &sanitizer{cov: cov, compose: composeTable()}, nil
})

// RenderManifest draws the manifest as an A4 PDF table (Russian headings,
// the language of Belpochta's posting lists) with the embedded Go fonts,
// so Belarusian and Russian names print as written. The same manifest
// gives the same bytes (the day is the document's date).
func RenderManifest(m Manifest) ([]byte, error) {
	san, err := manifestSanitizer()
	if err != nil {
		return nil, err
	}
	clean := func(s string) string { out, _ := san.clean(s, singleLine); return out }
	f := gofpdf.New("P", "mm", "A4", "")
	f.SetCatalogSort(true)
	date := time.Date(m.Day.Year(), m.Day.Month(), m.Day.Day(), 0, 0, 0, 0, time.UTC)
	f.SetCreationDate(date)
	f.SetModificationDate(date)
	for _, face := range fontFaces() {
		f.AddUTF8FontFromBytes(fontFamily, face.style, face.ttf)
	}
	f.SetTitle("Manifest "+m.Day.Format("2006-01-02"), true)
	f.SetAutoPageBreak(true, 15)
	cols := []struct {
		head  string
		width float64
		align string
	}{{"№", 12, "R"}, {"Почтовый идентификатор", 42, "L"}, {"Индекс", 20, "L"}, {"Получатель", 86, "L"}, {"Листов", 20, "R"}}
	header := func() {
		f.SetFont(fontFamily, "B", 9)
		for _, c := range cols {
			f.CellFormat(c.width, 7, c.head, "1", 0, c.align, false, 0, "")
		}
		f.Ln(-1)
		f.SetFont(fontFamily, "", 9)
	}
	f.SetHeaderFuncMode(func() {
		f.SetFont(fontFamily, "", 8)
		f.CellFormat(0, 5, clean(m.Centre)+" · "+m.Day.Format("02.01.2006"), "", 1, "R", false, 0, "")
	}, true)
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont(fontFamily, "", 8)
		f.CellFormat(0, 5, fmt.Sprintf("Страница %d из {nb}", f.PageNo()), "", 0, "C", false, 0, "")
	})
	f.AliasNbPages("{nb}")
	f.AddPage()
	f.SetFont(fontFamily, "B", 14)
	f.CellFormat(0, 8, "Список почтовых отправлений (манифест)", "", 1, "L", false, 0, "")
	f.SetFont(fontFamily, "", 10)
	f.CellFormat(0, 6, "Печатный центр: "+clean(m.Centre), "", 1, "L", false, 0, "")
	f.CellFormat(0, 6, "Регионы: "+strings.Join(m.Regions, ", ")+" · Дата сдачи: "+m.Day.Format("02.01.2006"), "", 1, "L", false, 0, "")
	f.CellFormat(0, 6, "Сортировка: по индексу", "", 1, "L", false, 0, "")
	f.Ln(2)
	header()
	sheets := 0
	for i, it := range m.Items {
		if f.GetY() > 270 {
			f.AddPage()
			header()
		}
		tracking := it.Tracking
		if tracking == "" {
			tracking = "—"
		}
		name := clean(it.RecipientName)
		for f.GetStringWidth(name) > cols[3].width-2 && len(name) > 0 {
			r := []rune(name)
			name = string(r[:len(r)-2]) + "…"
		}
		vals := []string{strconv.Itoa(i + 1), tracking, it.Postcode, name, strconv.Itoa(it.Sheets)}
		for j, c := range cols {
			f.CellFormat(c.width, 6, vals[j], "1", 0, c.align, false, 0, "")
		}
		f.Ln(-1)
		sheets += it.Sheets
	}
	f.Ln(2)
	f.SetFont(fontFamily, "B", 10)
	f.CellFormat(0, 6, fmt.Sprintf("Итого отправлений: %d, листов: %d", len(m.Items), sheets), "", 1, "L", false, 0, "")
	var out bytes.Buffer
	if err := f.Output(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
