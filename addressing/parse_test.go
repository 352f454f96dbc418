package addressing_test

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/npes/npes/addressing"
)

// want is the expected structure of a parsed address, written as
//
//	postcode|region|district|selsoviet|settlement type|settlement|street type|street|house|building|unit|rest
type parseCase struct {
	in   string
	want string
	// warn lists substrings of the expected warnings, one per warning; nil
	// means no warning at all.
	warn []string
	// err is a substring of the expected error; the structure is then not
	// checked.
	err string
}

func fields(a addressing.Address) string {
	return strings.Join([]string{a.Postcode, a.Region, a.District, a.Selsoviet, a.SettlementType, a.Settlement,
		a.StreetType, a.Street, a.House, a.Building, a.Unit, a.Rest}, "|")
}

func checkParse(t *testing.T, c parseCase) {
	t.Helper()
	a, err := addressing.Parse(c.in)
	if c.err != "" {
		if err == nil {
			t.Fatalf("Parse(%q) = %s, want error %q", c.in, fields(a), c.err)
		}
		if !errors.Is(err, addressing.ErrBadAddress) || !strings.Contains(err.Error(), c.err) {
			t.Fatalf("Parse(%q) error = %v, want ErrBadAddress with %q", c.in, err, c.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Parse(%q): %v", c.in, err)
	}
	if got := fields(a); got != c.want {
		t.Errorf("Parse(%q)\n got  %s\n want %s", c.in, got, c.want)
	}
	if a.Warnings == nil {
		t.Errorf("Parse(%q): Warnings is nil, want a non-nil slice", c.in)
	}
	if len(a.Warnings) != len(c.warn) {
		t.Errorf("Parse(%q) warnings = %q, want %d matching %q", c.in, a.Warnings, len(c.warn), c.warn)
		return
	}
	for i, w := range c.warn {
		if !strings.Contains(a.Warnings[i], w) {
			t.Errorf("Parse(%q) warning %d = %q, want it to contain %q", c.in, i, a.Warnings[i], w)
		}
	}
}

// publishedAddresses are the expected structures of the real published
// addresses in testdata/addresses_by.tsv, keyed by the raw address (with the
// TSV's \n escape decoded).
var publishedAddresses = map[string]parseCase{
	"220013, г.Минск, ул. Дорошевича, 8": {
		want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	"246050, г. Гомель, ул. Билецкого,10": {
		want: "246050|BY-HO|||г.|Гомель|ул.|Билецкого|10|||"},
	"223040, аг. Лесной, 21": {
		want: "223040|BY-MI|||аг.|Лесной|||21|||"},
	"г. Мінск, пр-т Дзяржынскага, 83": {
		want: "|BY-HM|||г.|Мінск|пр-т|Дзяржынскага|83|||"},
	"42 Lenina street, Glubokoye, 211800": {
		want: "211800|BY-VI|||city|Glubokoye|str.|Lenina|42|||"},
	"210029, г. Витебск,\nул. Правды, 26а": {
		want: "210029|BY-VI|||г.|Витебск|ул.|Правды|26А|||"},
	"224005, г. Брест, вул. Ленiна, 11": {
		want: "224005|BY-BR|||г.|Брест|вул.|Леніна|11|||"},
	"ул.Гагарина, г.Мозырь": {
		err: "street address without a house number"},
	"247710, Гомельская обл., г. Калинковичи, ул. Советская, д. 7, РБ.": {
		want: "247710|BY-HO|||г.|Калинковичи|ул.|Советская|7|||"},
	"223056, Минский р-н, д. Колядичи, д. 147/2": {
		want: "223056|BY-MI|Минский||д.|Колядичи|||147/2|||"},
	"213136, Могилевская обл, Могилевский р-н, Дашковский с/с, Межисеткий, ул. Фабричная,14, Республика Беларусь": {
		want: "213136|BY-MA|Могилевский|Дашковский||Межисеткий|ул.|Фабричная|14|||",
		warn: []string{"settlement type not written"}},
	"220075, г. Минск, пр-т. Партизанский 170, Беларусь.": {
		want: "220075|BY-HM|||г.|Минск|пр-т|Партизанский|170|||"},
	"225406, г. Барановичи, ул. 50 лет БССР, 21, Республика Беларусь.": {
		want: "225406|BY-BR|||г.|Барановичи|ул.|50 лет БССР|21|||"},
	"Рэспубліка Беларусь, 220088, г. Мінск, вул. Першамайская, 24/2, пам.102Б": {
		want: "220088|BY-HM|||г.|Мінск|вул.|Першамайская|24/2||пам. 102Б|"},
	"Республика Беларусь, 220088, г. Минск, ул. Первомайская, д. 24, корп. 2, пом.102Б.": {
		want: "220088|BY-HM|||г.|Минск|ул.|Первомайская|24|2|пом. 102Б|"},
	"Republic of Belarus, 220088, Minsk, Pervomayskaya str., 24/2, room 102B": {
		want: "220088|BY-HM|||city|Minsk|str.|Pervomayskaya|24/2||room 102B|"},
	"Минский р-н, аг. Сеница, ул. Зеленая, 1, к. 5 (с/м Гиппо)": {
		want: "|BY-MI|Минский||аг.|Сеница|ул.|Зеленая|1|5||(с/м Гиппо)"},
	"230023, г. Гродно, ул. Буденного, 48/а-66, 63, 65, 67, 68": {
		want: "230023|BY-HR|||г.|Гродно|ул.|Буденного|48А||кв. 66|63, 65, 67, 68",
		warn: []string{"house and flat written together as \"48/а-66\"", "kept in rest: 63, 65, 67, 68"}},
	"Мінская вобл., Барысаўскі р-н, в. Селішча": {
		want: "|BY-MI|Барысаўскі||в.|Селішча||||||"},
	"212008, г. Могилев, 4-ый пер. Мечникова, 17": {
		want: "212008|BY-MA|||г.|Могилев|пер.|4-ый Мечникова|17|||"},
}

// readTestdata returns the raw addresses of testdata/addresses_by.tsv.
func readTestdata(t testing.TB) []string {
	f, err := os.Open("testdata/addresses_by.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if first {
			continue // header
		}
		raw, _, _ := strings.Cut(sc.Text(), "\t")
		out = append(out, strings.ReplaceAll(raw, `\n`, "\n"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParsePublished(t *testing.T) {
	t.Parallel()
	rows := readTestdata(t)
	if len(rows) != 20 {
		t.Fatalf("testdata has %d addresses, want 20", len(rows))
	}
	for _, raw := range rows {
		c, ok := publishedAddresses[raw]
		if !ok {
			t.Errorf("no expectation for %q", raw)
			continue
		}
		c.in = raw
		checkParse(t, c)
	}
}

// TestParseEscapedNewline: exported data often carries a line break as the
// two characters \n; it separates like a real one.
func TestParseEscapedNewline(t *testing.T) {
	t.Parallel()
	checkParse(t, parseCase{in: `210029, г. Витебск,\nул. Правды, 26а`, want: "210029|BY-VI|||г.|Витебск|ул.|Правды|26А|||"})
}

var parseCases = []parseCase{
	// Postcode first, last, on its own line, missing; the country anywhere.
	{in: "220013, г. Минск, ул. Дорошевича, 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "г. Минск, ул. Дорошевича, 8, 220013", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "г. Минск, ул. Дорошевича, 8\n220013", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "220013\nг. Минск\nул. Дорошевича, 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "220013 г. Минск ул. Дорошевича 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "г. Минск, ул. Дорошевича, 8", want: "|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "Республика Беларусь, 220013, г. Минск, ул. Дорошевича, 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "220013, г. Минск, ул. Дорошевича, 8, Республика Беларусь", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "РБ, 220013, г. Минск, ул. Дорошевича, 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "Беларусь, г. Минск, ул. Дорошевича, 8", want: "|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "220013, Республики Беларусь, г. Минск, ул. Дорошевича, 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "Рэспубліка Беларусь, 220013, г. Мінск, вул. Дарашэвіча, 8", want: "220013|BY-HM|||г.|Мінск|вул.|Дарашэвіча|8|||"},
	{in: "Republic of Belarus, 220013, Minsk, Doroshevicha str., 8", want: "220013|BY-HM|||city|Minsk|str.|Doroshevicha|8|||"},
	{in: "Belarus, Minsk, Doroshevicha str. 8, 220013", want: "220013|BY-HM|||city|Minsk|str.|Doroshevicha|8|||"},
	{in: "220013 Минск Дорошевича 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||",
		warn: []string{"street type not written; assumed ул."}},

	// Settlement types.
	{in: "г Минск, ул Дорошевича, д 8", want: "|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "город Минск, улица Дорошевича, дом 8", want: "|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "горад Мінск, вуліца Дарашэвіча, 8", want: "|BY-HM|||г.|Мінск|вул.|Дарашэвіча|8|||"},
	{in: "Minsk city, Doroshevicha street 8", want: "|BY-HM|||city|Minsk|str.|Doroshevicha|8|||"},
	{in: "g. Minsk, ul. Doroshevicha, d. 8", want: "|BY-HM|||city|Minsk|str.|Doroshevicha|8|||"},
	{in: "222310, Минская обл., г.п. Радошковичи, ул. Советская, 12", want: "222310|BY-MI|||г.п.|Радошковичи|ул.|Советская|12|||"},
	{in: "222310, Минская обл., гп Радошковичи, ул. Советская, 12", want: "222310|BY-MI|||г.п.|Радошковичи|ул.|Советская|12|||"},
	{in: "222310, Минская обл., г/п Радошковичи, ул. Советская, 12", want: "222310|BY-MI|||г.п.|Радошковичи|ул.|Советская|12|||"},
	{in: "222310, Минская обл., городской поселок Радошковичи, ул. Советская, 12", want: "222310|BY-MI|||г.п.|Радошковичи|ул.|Советская|12|||"},
	{in: "223040, Минский р-н, аг. Лесной, 21", want: "223040|BY-MI|Минский||аг.|Лесной|||21|||"},
	{in: "223040, Минский р-н, а/г Лесной, 21", want: "223040|BY-MI|Минский||аг.|Лесной|||21|||"},
	{in: "223040, Минский р-н, агрогородок Лесной, 21", want: "223040|BY-MI|Минский||аг.|Лесной|||21|||"},
	{in: "223040, Мінскі р-н, аг. Лясны, 21", want: "223040|BY-MI|Мінскі||аг.|Лясны|||21|||"},
	{in: "223056, Минский р-н, деревня Колядичи, дом 147/2", want: "223056|BY-MI|Минский||д.|Колядичи|||147/2|||"},
	{in: "223056, Мінскі р-н, в. Калядзічы, д. 147/2", want: "223056|BY-MI|Мінскі||в.|Калядзічы|||147/2|||"},
	{in: "д.Колядичи, д.147/2, Минский р-н", want: "|BY-MI|Минский||д.|Колядичи|||147/2|||"},
	{in: "Минский район, д. Колядичи", want: "|BY-MI|Минский||д.|Колядичи||||||"},
	{in: "222120, Барысаўскі р-н, в. Селішча", want: "222120|BY-MI|Барысаўскі||в.|Селішча||||||"},
	{in: "Борисовский р-н, п. Новосады, ул. Лесная, 3", want: "|BY-MI|Борисовский||п.|Новосады|ул.|Лесная|3|||"},
	{in: "Борисовский р-н, пос. Новосады, ул. Лесная, 3", want: "|BY-MI|Борисовский||п.|Новосады|ул.|Лесная|3|||"},
	{in: "Борисовский р-н, посёлок Новосады, ул. Лесная, 3", want: "|BY-MI|Борисовский||п.|Новосады|ул.|Лесная|3|||"},
	{in: "Барысаўскі раён, пас. Навасады, вул. Лясная, 3", want: "|BY-MI|Барысаўскі||п.|Навасады|вул.|Лясная|3|||"},
	{in: "Minsk district, village Kolyadichi, 147/2", want: "|BY-MI|Minsk||village|Kolyadichi|||147/2|||"},
	{in: "Minsk region, Barysaw district, Selishcha village", want: "|BY-MI|Barysaw||village|Selishcha||||||"},
	{in: "Гомельская обл., Лоевский р-н, х. Дубровка", want: "|BY-HO|Лоевский||х.|Дубровка||||||"},
	{in: "Minsk oblast, Barysaw raion, v. Selishcha", want: "|BY-MI|Barysaw||village|Selishcha||||||"},
	{in: "Мінская вобласць, Барысаўскі раён, вёска Селішча", want: "|BY-MI|Барысаўскі||в.|Селішча||||||"},
	{in: "Гомельская обл., г. Буда-Кошелево, ул. Ленина, 1", want: "|BY-HO|||г.|Буда-Кошелево|ул.|Ленина|1|||"},

	// Street types, before and after the name.
	{in: "г. Гомель, ул. Билецкого, 10", want: "|BY-HO|||г.|Гомель|ул.|Билецкого|10|||"},
	{in: "г. Гомель, вул. Білецкага, 10", want: "|BY-HO|||г.|Гомель|вул.|Білецкага|10|||"},
	{in: "г. Минск, пр-т Независимости, 4", want: "|BY-HM|||г.|Минск|пр-т|Независимости|4|||"},
	{in: "г. Минск, пр. Независимости, 4", want: "|BY-HM|||г.|Минск|пр-т|Независимости|4|||"},
	{in: "г. Минск, просп. Независимости, 4", want: "|BY-HM|||г.|Минск|пр-т|Независимости|4|||"},
	{in: "г. Минск, проспект Независимости, 4", want: "|BY-HM|||г.|Минск|пр-т|Независимости|4|||"},
	{in: "г. Минск, Независимости пр-т, 4", want: "|BY-HM|||г.|Минск|пр-т|Независимости|4|||"},
	{in: "г. Мінск, праспект Незалежнасці, 4", want: "|BY-HM|||г.|Мінск|пр-т|Незалежнасці|4|||"},
	{in: "Minsk, Nezavisimosti avenue, 4", want: "|BY-HM|||city|Minsk|ave.|Nezavisimosti|4|||"},
	{in: "г. Могилев, пер. Мечникова, 17", want: "|BY-MA|||г.|Могилев|пер.|Мечникова|17|||"},
	{in: "г. Магілёў, зав. Мечнікава, 17", want: "|BY-MA|||г.|Магілёў|зав.|Мечнікава|17|||"},
	{in: "г. Минск, пл. Победы, 1", want: "|BY-HM|||г.|Минск|пл.|Победы|1|||"},
	{in: "г. Мінск, плошча Перамогі, 1", want: "|BY-HM|||г.|Мінск|пл.|Перамогі|1|||"},
	{in: "г. Брест, б-р Шевченко, 5", want: "|BY-BR|||г.|Брест|б-р|Шевченко|5|||"},
	{in: "г. Брест, бульвар Шевченко, 5", want: "|BY-BR|||г.|Брест|б-р|Шевченко|5|||"},
	{in: "г. Минск, Долгиновский тракт, 50", want: "|BY-HM|||г.|Минск|тракт|Долгиновский|50|||"},
	{in: "г. Мінск, Маскоўскі шлях, 5", want: "|BY-HM|||г.|Мінск|шлях|Маскоўскі|5|||"},
	{in: "г. Минск, мкр. Уручье, 12", want: "|BY-HM|||г.|Минск|мкр.|Уручье|12|||"},
	{in: "г. Солигорск, микрорайон Северный, 5", want: "|BY-MI|||г.|Солигорск|мкр.|Северный|5|||"},
	{in: "г. Гродно, наб. Неманская, 3", want: "|BY-HR|||г.|Гродно|наб.|Неманская|3|||"},
	{in: "г. Минск, Московское ш., 7", want: "|BY-HM|||г.|Минск|ш.|Московское|7|||"},
	{in: "Minsk, Lenina street, 5", want: "|BY-HM|||city|Minsk|str.|Lenina|5|||"},
	{in: "Minsk, Lenina str. 5", want: "|BY-HM|||city|Minsk|str.|Lenina|5|||"},
	{in: "Minsk, ul. Lenina, 5", want: "|BY-HM|||city|Minsk|str.|Lenina|5|||"},
	{in: "5 Lenina street, Minsk", want: "|BY-HM|||city|Minsk|str.|Lenina|5|||"},
	{in: "Brest, Sovetskaya st., 5, apt. 3", want: "|BY-BR|||city|Brest|str.|Sovetskaya|5||apt. 3|"},
	{in: "г. Минск, ул. Я. Коласа, 10", want: "|BY-HM|||г.|Минск|ул.|Я. Коласа|10|||"},
	{in: "г. Минск, ул. К. Маркса, 10", want: "|BY-HM|||г.|Минск|ул.|К. Маркса|10|||"},
	{in: "г. Минск, ул. Г. Петровского, 10", want: "|BY-HM|||г.|Минск|ул.|Г. Петровского|10|||"},
	{in: "г. Минск, ул. 8 Марта, 5", want: "|BY-HM|||г.|Минск|ул.|8 Марта|5|||"},
	{in: "г. Могилев, пер. Мечникова 4-й, 17", want: "|BY-MA|||г.|Могилев|пер.|Мечникова 4-й|17|||"},
	{in: "г. Минск, 2-й пер. Щорса, 5", want: "|BY-HM|||г.|Минск|пер.|2-й Щорса|5|||"},
	{in: "г. Минск, ул. им. Ленина, 5", want: "|BY-HM|||г.|Минск|ул.|им. Ленина|5|||"},
	{in: "г. Минск, ул.Ленина,5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "г.Минск,ул.Ленина,д.5,кв.12", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 12|"},
	{in: "г. Минск Партизанский пр-т 170", want: "|BY-HM|||г.|Минск|пр-т|Партизанский|170|||"},
	{in: "г. Новополоцк, ул. Молодежная, 5", want: "|BY-VI|||г.|Новополоцк|ул.|Молодежная|5|||"},

	// House numbers.
	{in: "г. Минск, ул. Гагарина, 13/1", want: "|BY-HM|||г.|Минск|ул.|Гагарина|13/1|||"},
	{in: "г. Минск, ул. Гагарина, 26а", want: "|BY-HM|||г.|Минск|ул.|Гагарина|26А|||"},
	{in: "г. Минск, ул. Гагарина, 26 а", want: "|BY-HM|||г.|Минск|ул.|Гагарина|26А|||"},
	{in: "г. Минск, ул. Гагарина, 2 А", want: "|BY-HM|||г.|Минск|ул.|Гагарина|2А|||"},
	{in: "г. Минск, ул. Гагарина, 26a", want: "|BY-HM|||г.|Минск|ул.|Гагарина|26А|||"},
	{in: "г. Минск, ул. Гагарина, 48/а", want: "|BY-HM|||г.|Минск|ул.|Гагарина|48А|||"},
	{in: "г. Минск, ул. Гагарина, 26-а", want: "|BY-HM|||г.|Минск|ул.|Гагарина|26А|||"},
	{in: "г. Минск, ул. Гагарина, 48-54", want: "|BY-HM|||г.|Минск|ул.|Гагарина|48-54|||"},
	{in: "г. Минск, ул. Гагарина, 48 - 54", want: "|BY-HM|||г.|Минск|ул.|Гагарина|48-54|||"},
	{in: "г. Минск, ул. Гагарина, д. 7", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|||"},
	{in: "г. Минск, ул. Гагарина, дом 7", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|||"},
	{in: "г. Минск, ул. Гагарина, д. № 7", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|||"},
	{in: "г. Минск, ул. Гагарина, д. 7, корп. 2", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|2||"},
	{in: "г. Минск, ул. Гагарина, д. 7, к. 2", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|2||"},
	{in: "г. Минск, ул. Гагарина, д. 7 корпус 2", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|2||"},
	{in: "г. Минск, ул. Гагарина, 7к2", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|2||"},
	{in: "г. Минск, ул. Гагарина, 7 к 2", want: "|BY-HM|||г.|Минск|ул.|Гагарина|7|2||"},
	{in: "г. Минск, ул. Гагарина, 5-12", want: "|BY-HM|||г.|Минск|ул.|Гагарина|5||кв. 12|",
		warn: []string{"house and flat written together as \"5-12\""}},
	{in: "г. Минск, ул. Гагарина, 5, 12", want: "|BY-HM|||г.|Минск|ул.|Гагарина|5||кв. 12|",
		warn: []string{"number 12 after the house read as кв. 12"}},
	{in: "г. Минск, ул. Гагарина, 13/1 - 12", want: "|BY-HM|||г.|Минск|ул.|Гагарина|13/1||кв. 12|",
		warn: []string{"house and flat written together"}},
	{in: "г. Минск, ул. Кирова, 1-12", want: "|BY-HM|||г.|Минск|ул.|Кирова|1||кв. 12|",
		warn: []string{"house and flat written together as \"1-12\""}},
	{in: "246003, Гомель, ул. Советская 16-42", want: "246003|BY-HO|||г.|Гомель|ул.|Советская|16-42|||",
		warn: []string{"\"16-42\" read as a range of house numbers; if it is a house and a flat, write кв."}},
	{in: "г. Минск, ул. Гагарина, 5/1/3", want: "|BY-HM|||г.|Минск|ул.|Гагарина|5/1/3|||",
		warn: []string{"unusual house number \"5/1/3\""}},

	// Units.
	{in: "г. Минск, ул. Ленина, 5, кв. 12", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 12|"},
	{in: "г. Минск, ул. Ленина, 5, квартира 12", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 12|"},
	{in: "г. Минск, ул. Ленина, 5, кв.12а", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 12А|"},
	{in: "г. Минск, ул. Ленина, 5, пом. 3Н", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||пом. 3Н|"},
	{in: "г. Минск, ул. Ленина, 5, помещение 3", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||пом. 3|"},
	{in: "г. Мінск, вул. Леніна, 5, пам. 3", want: "|BY-HM|||г.|Мінск|вул.|Леніна|5||пам. 3|"},
	{in: "г. Минск, ул. Ленина, 5, оф. 301", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||оф. 301|"},
	{in: "г. Минск, ул. Ленина, 5, офис 301", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||оф. 301|"},
	{in: "г. Минск, ул. Ленина, 5, комн. 4", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||комн. 4|"},
	{in: "г. Минск, ул. Ленина, 5, каб. 12", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||каб. 12|"},
	{in: "Minsk, Lenina str., 5, room 12", want: "|BY-HM|||city|Minsk|str.|Lenina|5||room 12|"},
	{in: "Minsk, Lenina str., 5, office 12", want: "|BY-HM|||city|Minsk|str.|Lenina|5||office 12|"},
	{in: "Minsk, Lenina str., 5, of. 12", want: "|BY-HM|||city|Minsk|str.|Lenina|5||office 12|"},
	{in: "г. Минск, ул. Ленина, д. 5, кв. 12, комн. 3", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 12, комн. 3|"},
	{in: "г. Минск, ул. Ленина, 5, подъезд 2, этаж 3, кв. 12", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 12|подъезд 2, этаж 3"},
	{in: "220000 Минск, а/я 15", want: "220000|BY-HM|||г.|Минск|||||а/я 15|"},
	{in: "220000, г. Минск, абонентский ящик 15", want: "220000|BY-HM|||г.|Минск|||||а/я 15|"},
	{in: "г. Мінск, а/с 15, 220000", want: "220000|BY-HM|||г.|Мінск|||||а/с 15|"},
	{in: "220000, Minsk, P.O. Box 15", want: "220000|BY-HM|||city|Minsk|||||P.O. Box 15|"},
	{in: "кв. 12, д. 5, ул. Ленина, г. Минск, 220030", want: "220030|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 12|"},

	// Regions, districts, selsoviets.
	{in: "213136, Могилевская обл, Могилевский р-н, Дашковский с/с, д. Межисетки, ул. Фабричная, 14",
		want: "213136|BY-MA|Могилевский|Дашковский|д.|Межисетки|ул.|Фабричная|14|||"},
	{in: "Могилевская область, Могилевский район, Дашковский сельсовет, д. Межисетки",
		want: "|BY-MA|Могилевский|Дашковский|д.|Межисетки||||||"},
	{in: "Магілёўская вобл., Магілёўскі р-н, Дашкаўскі с/с, в. Межысеткі",
		want: "|BY-MA|Магілёўскі|Дашкаўскі|в.|Межысеткі||||||"},
	{in: "Брестская обл., г. Пинск, ул. Ленина, 1", want: "|BY-BR|||г.|Пинск|ул.|Ленина|1|||"},
	{in: "Гродненская область, г. Лида, ул. Советская, 10", want: "|BY-HR|||г.|Лида|ул.|Советская|10|||"},
	{in: "Гродзенская вобл., г. Ліда, вул. Савецкая, 10", want: "|BY-HR|||г.|Ліда|вул.|Савецкая|10|||"},
	{in: "Витебская обл., Оршанский р-н, аг. Бабиничи, ул. Школьная, 2", want: "|BY-VI|Оршанский||аг.|Бабиничи|ул.|Школьная|2|||"},
	{in: "Гомельская обл., Речицкий р-н, д. Бабичи, ул. Центральная, 3", want: "|BY-HO|Речицкий||д.|Бабичи|ул.|Центральная|3|||"},
	{in: "Гомельская обл., г. Мозырь, ул. Ленинская, 5", want: "|BY-HO|||г.|Мозырь|ул.|Ленинская|5|||"},
	{in: "Минской обл., Борисовского р-на, д. Новоселки", want: "|BY-MI|Борисовского||д.|Новоселки||||||"},
	{in: "г. Минск, Октябрьский р-н, ул. Ленина, 5", want: "|BY-HM|Октябрьский||г.|Минск|ул.|Ленина|5|||"},
	{in: "Vitebsk region, Orsha, Lenina str., 1", want: "|BY-VI|||city|Orsha|str.|Lenina|1|||"},

	// Organizations, remarks and labels.
	{in: "Хлебозавод «Автомат», г. Минск, ул. Ленина, 5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||Хлебозавод «Автомат»"},
	{in: "ООО «Ромашка», 220000, г. Минск, пр. Независимости, 4, оф. 12", want: "220000|BY-HM|||г.|Минск|пр-т|Независимости|4||оф. 12|ООО «Ромашка»"},
	{in: "ОАО Хлебозавод №2, г. Минск, ул. Ленина, 5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||ОАО Хлебозавод №2"},
	{in: "г. Минск, ул. Ленина, 5 (вход со двора)", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||(вход со двора)"},
	{in: "Адрес: 220013, г. Минск, ул. Дорошевича, 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "Юридический адрес: 220013, г. Минск, ул. Дорошевича, 8", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8|||"},
	{in: "г. Минск, ул. Ленина, 5; ЗАО \"Атлант\"", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||ЗАО \"Атлант\""},

	// Look-alike letters, Unicode and case.
	{in: "г. Минск, yл. Ленина, 5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "г. Mинск, ул. Ленина, 5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "г.\u00a0Минск, ул.\u00a0Ленина,\u00a05", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "г. Минск — ул. Ленина — 5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "г. Минск, ул. Первомаи\u0306ская, 5", want: "|BY-HM|||г.|Минск|ул.|Первомайская|5|||"},
	{in: "г. Мин\u200bск, ул. Ленина, 5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "Г. МИНСК, УЛ. ЛЕНИНА, Д. 5, КВ. 12", want: "|BY-HM|||г.|МИНСК|ул.|ЛЕНИНА|5||кв. 12|"},
	{in: "г. Минск,\r\nул. Ленина,\r\n5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "  г.  Минск ,  ул.  Ленина ,  5  ", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},

	// Other orders.
	{in: "Lenina str. 42, Glubokoe, Vitebsk region, 211800", want: "211800|BY-VI|||city|Glubokoe|str.|Lenina|42|||"},
	{in: "д. 5, ул. Ленина, г. Минск", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||"},
	{in: "ул. Ленина, 5, г. Брест, 224005", want: "224005|BY-BR|||г.|Брест|ул.|Ленина|5|||"},

	// Warnings.
	{in: "274028, г. Брест, ул. Советская, 5", want: "274028|BY-BR|||г.|Брест|ул.|Советская|5|||",
		warn: []string{"postcode 274028 has no Belarusian region prefix and does not match Брест (BY-BR)"}},
	{in: "220013, г. Гомель, ул. Ленина, 8", want: "220013|BY-HM|||г.|Гомель|ул.|Ленина|8|||",
		warn: []string{"postcode 220013 is in BY-HM but Гомель is in BY-HO"}},
	{in: "246050, Минская обл., г. Гомель, ул. Ленина, 8", want: "246050|BY-HO|||г.|Гомель|ул.|Ленина|8|||",
		warn: []string{"postcode 246050 is in BY-HO but the region is written as Минская (BY-MI)", "Гомель is in BY-HO but the region is written as Минская (BY-MI)"}},
	{in: "Минская обл., г. Минск, ул. Ленина, 8", want: "|BY-MI|||г.|Минск|ул.|Ленина|8|||",
		warn: []string{"Минск is in BY-HM but the region is written as Минская (BY-MI)"}},
	{in: "220013, Гомельский р-н, д. Бабичи", want: "220013|BY-HM|Гомельский||д.|Бабичи||||||",
		warn: []string{"postcode 220013 is in BY-HM but Гомельский р-н is in BY-HO"}},
	{in: "22001, г. Минск, ул. Ленина, 8", want: "|BY-HM|||г.|Минск|ул.|Ленина|8|||22001",
		warn: []string{"number 22001 is not a postcode"}},
	{in: "220013, г. Минск, Ленина, 8", want: "220013|BY-HM|||г.|Минск|ул.|Ленина|8|||",
		warn: []string{"street type not written"}},
	{in: "223056, Колядичи, 147/2", want: "223056|BY-MI||||Колядичи|||147/2|||",
		warn: []string{"settlement type not written"}},
	{in: "г. Минск, ул. Ленина, 5, кв. 3, 7", want: "|BY-HM|||г.|Минск|ул.|Ленина|5||кв. 3|7",
		warn: []string{"kept in rest: 7"}},
	{in: "220013, 220014, г. Минск, ул. Ленина, 5", want: "220013|BY-HM|||г.|Минск|ул.|Ленина|5|||220014",
		warn: []string{"second postcode 220014 kept in rest"}},
	{in: "220013", want: "220013|BY-HM||||||||||",
		warn: []string{"no settlement written"}},
	{in: "220013, ул. Дорошевича, 8", want: "220013|BY-HM|||||ул.|Дорошевича|8|||",
		warn: []string{"no settlement written"}},
	{in: "Минск", want: "|BY-HM|||г.|Минск||||||",
		warn: []string{"no street and no house number in a city"}},
	{in: "г. Брест, 15", want: "|BY-BR|||г.|Брест|||15|||",
		warn: []string{"house number without a street in a city"}},
	{in: "Тьмутараканская обл., д. Колядичи", want: "||||д.|Колядичи||||||",
		warn: []string{"unknown region \"Тьмутараканская\""}},
	{in: "г. Минск, д. Колядичи, ул. Ленина, 5", want: "|BY-HM|||г.|Минск|ул.|Ленина|5|||д. Колядичи",
		warn: []string{"second settlement \"д. Колядичи\" kept in rest"}},

	// Poste restante: recognised in every language and order, never a name
	// or Rest; the street written with it stays in the fields.
	{in: "до востребования, 220030, г. Минск", want: "220030|BY-HM|||г.|Минск||||||"},
	{in: "220030 г. Минск до востребования", want: "220030|BY-HM|||г.|Минск||||||"},
	{in: "До востребования, Минская обл., Борисовский р-н, д. Селище, 222120",
		want: "222120|BY-MI|Борисовский||д.|Селище||||||"},
	{in: "Да запатрабавання, 220030, г. Мінск", want: "220030|BY-HM|||г.|Мінск||||||"},
	{in: "Poste restante, 220030, Minsk", want: "220030|BY-HM|||city|Minsk||||||"},
	{in: "General delivery, Minsk 220030", want: "220030|BY-HM|||city|Minsk||||||"},
	{in: "220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования",
		want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8||кв. 9|"},
	{in: "220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востреб.",
		want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8||кв. 9|"},
	// "до" alone is a word like any other.
	{in: "220013, г. Минск, ул. Дорошевича, 8, кв. 9, до 18:00", want: "220013|BY-HM|||г.|Минск|ул.|Дорошевича|8||кв. 9|до 18, 00",
		warn: []string{"unrecognized \"до\" kept in rest", "numbers after the house and unit kept in rest"}},

	// Not deliverable.
	{in: "", err: "empty address"},
	{in: "   \n ,, ", err: "empty address"},
	{in: "abc", err: "no settlement and no postcode"},
	{in: "ул. Ленина, 5", err: "no settlement and no postcode"},
	{in: "Хлебозавод «Автомат»", err: "no settlement and no postcode"},
	{in: "кв. 5", err: "no settlement and no postcode"},
	{in: "г. Минск, ул. Ленина", err: "street address without a house number"},
	{in: "220013, пр-т Независимости", err: "street address without a house number"},
	{in: strings.Repeat("г. Минск, ", 200), err: "too long"},
	{in: "г. Минск, ул. Ленина, \xff5", err: "not valid UTF-8"},
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, c := range parseCases {
		checkParse(t, c)
	}
}

// TestParseCount keeps the table honest: the issue asks for at least 150
// addresses.
func TestParseCount(t *testing.T) {
	if n := len(parseCases) + len(publishedAddresses); n < 150 {
		t.Fatalf("%d table addresses, want at least 150", n)
	}
}

// TestParseLinesRoundTrip parses what Lines prints and expects the same
// delivery point: the envelope form is itself a valid address.
func TestParseLinesRoundTrip(t *testing.T) {
	t.Parallel()
	inputs := readTestdata(t)
	for _, c := range parseCases {
		inputs = append(inputs, c.in)
	}
	for _, in := range inputs {
		a, err := addressing.Parse(in)
		if err != nil {
			continue
		}
		a.Rest = "" // remarks are not part of the delivery point
		printed := strings.Join(a.Lines(), "\n")
		b, err := addressing.Parse(printed)
		if err != nil {
			t.Errorf("Parse(Lines(%q)) = Parse(%q): %v", in, printed, err)
			continue
		}
		if a.MatchKey() != b.MatchKey() {
			t.Errorf("Lines(%q) = %q\n reparsed key %s\n want       %s", in, printed, b.MatchKey(), a.MatchKey())
		}
		if !addressing.SameDeliveryPoint(a, b) {
			t.Errorf("Lines(%q) = %q: not the same delivery point after reparsing", in, printed)
		}
	}
}

func TestLines(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Республика Беларусь, 220088, г. Минск, ул. Первомайская, д. 24, корп. 2, пом.102Б.",
			[]string{"ул. Первомайская, д. 24, корп. 2, пом. 102Б", "г. Минск", "220088"}},
		{"Рэспубліка Беларусь, 220088, г. Мінск, вул. Першамайская, 24/2, пам.102Б",
			[]string{"вул. Першамайская, д. 24/2, пам. 102Б", "г. Мінск", "220088"}},
		{"Republic of Belarus, 220088, Minsk, Pervomayskaya str., 24/2, room 102B",
			[]string{"Pervomayskaya str., 24/2, room 102B", "Minsk", "220088"}},
		{"213136, Могилевская обл, Могилевский р-н, Дашковский с/с, Межисеткий, ул. Фабричная,14",
			[]string{"ул. Фабричная, д. 14", "Межисеткий", "Дашковский с/с, Могилевский р-н, Могилевская обл.", "213136"}},
		{"212008, г. Могилев, 4-ый пер. Мечникова, 17",
			[]string{"4-ый пер. Мечникова, д. 17", "г. Могилев", "Могилевская обл.", "212008"}},
		{"Минский р-н, аг. Сеница, ул. Зеленая, 1, к. 5 (с/м Гиппо)",
			[]string{"(с/м Гиппо)", "ул. Зеленая, д. 1, корп. 5", "аг. Сеница", "Минский р-н, Минская обл."}},
		{"Мінская вобл., Барысаўскі р-н, в. Селішча",
			[]string{"в. Селішча", "Барысаўскі р-н, Мінская вобл."}},
		{"Minsk region, Barysaw district, Selishcha village",
			[]string{"Selishcha village", "Barysaw District, Minsk Region"}},
	} {
		a, err := addressing.Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if got := a.Lines(); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("Lines(%q)\n got  %q\n want %q", c.in, got, c.want)
		}
		if got, want := a.String(), strings.Join(c.want, ", "); got != want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, want)
		}
	}
}

func TestRegionOfPostcode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		postcode, region string
	}{
		{"220013", "BY-HM"}, {"220000", "BY-HM"}, {"222310", "BY-MI"}, {"223056", "BY-MI"},
		{"224005", "BY-BR"}, {"225406", "BY-BR"}, {"210029", "BY-VI"}, {"211800", "BY-VI"},
		{"212008", "BY-MA"}, {"213136", "BY-MA"}, {"230023", "BY-HR"}, {"231300", "BY-HR"},
		{"246050", "BY-HO"}, {"247710", "BY-HO"},
		{"221000", ""}, {"226000", ""}, {"274028", ""}, {"101000", ""}, {"248000", ""},
		{"22001", ""}, {"2200130", ""}, {"22001a", ""}, {"", ""}, {"２２００１３", ""},
	} {
		got, ok := addressing.RegionOfPostcode(c.postcode)
		if got != c.region || ok != (c.region != "") {
			t.Errorf("RegionOfPostcode(%q) = %q, %v; want %q", c.postcode, got, ok, c.region)
		}
	}
}
