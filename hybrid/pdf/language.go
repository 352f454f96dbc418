package pdf

import "unicode"

// Languages of the fixed labels printed on a letter (Letter.Language).
const (
	Belarusian = "be"
	Russian    = "ru"
)

// labels are the fixed texts of a printed letter in one language.
type labels struct {
	endorsement string // postal endorsement of a registered letter, in capitals
	date        string
	letterID    string
	registered  string
	attachments string // heading of the attachment list
	kindText    string
	kindImage   string
	kindPDF     string // with the page count
	attachment  string // attachment heading: number, name
	band        string // attachment header band: number, page, pages
	footerID    string // with the letter id
	footerPage  string // page, pages
}

var labelSets = map[string]*labels{
	Russian: {
		endorsement: "ЗАКАЗНОЕ",
		date:        "Дата",
		letterID:    "Номер письма",
		registered:  "Заказное письмо",
		attachments: "Приложения:",
		kindText:    "текст",
		kindImage:   "изображение",
		kindPDF:     "PDF, страниц: %d",
		attachment:  "Приложение %d. %s",
		band:        "Приложение %d, страница %d из %d",
		footerID:    "Письмо %s",
		footerPage:  "Страница %d из %d",
	},
	Belarusian: {
		endorsement: "ЗАКАЗНАЕ",
		date:        "Дата",
		letterID:    "Нумар ліста",
		registered:  "Заказны ліст",
		attachments: "Дадаткі:",
		kindText:    "тэкст",
		kindImage:   "выява",
		kindPDF:     "PDF, старонак: %d",
		attachment:  "Дадатак %d. %s",
		band:        "Дадатак %d, старонка %d з %d",
		footerID:    "Ліст %s",
		footerPage:  "Старонка %d з %d",
	},
}

// ValidLanguage reports whether lang names a label language; "" means
// detected from the text (DetectLanguage).
func ValidLanguage(lang string) bool {
	_, ok := labelSets[lang]
	return ok || lang == ""
}

// DetectLanguage tells a Belarusian text from a Russian one by the letters
// only one of the two alphabets has: і and ў are Belarusian, и, щ and ъ
// Russian. The language with more of its own letters wins; a tie (a text
// without Cyrillic, say) is Russian, the language most Belarusian
// organizations correspond in.
func DetectLanguage(texts ...string) string {
	var be, ru int
	for _, t := range texts {
		for _, r := range t {
			switch unicode.ToLower(r) {
			case 'і', 'ў':
				be++
			case 'и', 'щ', 'ъ':
				ru++
			}
		}
	}
	if be > ru {
		return Belarusian
	}
	return Russian
}
