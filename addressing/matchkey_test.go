package addressing_test

import (
	"strings"
	"testing"

	"github.com/npes/npes/addressing"
)

func mustParse(t *testing.T, s string) addressing.Address {
	t.Helper()
	a, err := addressing.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return a
}

// equivalentSpellings are groups of spellings of one delivery point; every
// address of a group must have the same match key.
var equivalentSpellings = [][]string{
	{ // The published ru/be/en triple.
		"Рэспубліка Беларусь, 220088, г. Мінск, вул. Першамайская, 24/2, пам.102Б",
		"Республика Беларусь, 220088, г. Минск, ул. Первомайская, д. 24, корп. 2, пом.102Б.",
		"Republic of Belarus, 220088, Minsk, Pervomayskaya str., 24/2, room 102B",
		"г. Минск, ул. Первомайская, 24к2, офис 102Б",
		"Минск, Первомайская улица, дом 24 корпус 2, помещение 102б",
	},
	{
		"220013, г.Минск, ул. Дорошевича, 8",
		"г. Минск, ул. Дорошевича, д. 8",
		"Минск, Дорошевича улица, дом 8",
		"220013 Минск Дорошевича 8",
		"Minsk, Doroshevicha str., 8",
		"г. Мінск, вул. Дарашэвіча, 8",
		"Республика Беларусь, 220013, Минск, ул. Дорошевича, 8",
		"Хлебозавод «Автомат», 220013, г. Минск, ул. Дорошевича, 8",
		"220013, ул. Дорошевича, 8",
		"ул. Дорошевича, д. 8, г. Минск",
		"Г. МИНСК, УЛ. ДОРОШЕВИЧА, Д. 8",
	},
	{
		"г. Минск, ул. Гагарина, 26а",
		"г. Минск, ул. Гагарина, 26 А",
		"г. Минск, ул. Гагарина, 26a",
		"г. Минск, ул. Гагарина, 26/а",
		"г. Минск, ул. Гагарина, д. 26-а",
	},
	{
		"г. Минск, ул. Ленина, 5, кв. 12",
		"г. Минск, ул. Ленина, 5-12",
		"г. Минск, ул. Ленина, 5, 12",
		"г. Минск, ул. Ленина, д.5, квартира 12",
		"g. Minsk, ul. Lenina, d. 5, kv. 12",
		"Minsk, Lenina street 5, apt. 12",
		"г. Мінск, вул. Леніна, 5, кв. 12",
		"г. Минск, ул. Ленiна, 5, кв. 12", // Latin i
	},
	{
		"г. Минск, пр. Независимости, 4",
		"г. Минск, пр-т Независимости, 4",
		"г. Минск, Независимости пр-т, 4",
		"г. Минск, проспект Независимости, д. 4",
		"г. Мінск, праспект Незалежнасці, 4",
		"Minsk, Nezavisimosti ave., 4",
		"Minsk, Nezavisimosti prospekt, 4",
	},
	{
		"212008, г. Могилев, 4-ый пер. Мечникова, 17",
		"г. Могилев, пер. Мечникова 4-й, д. 17",
		"г. Могілёў, 4-ы зав. Мечнікава, 17",
		"Mogilev, 4th Mechnikova lane, 17",
		"Mahilioŭ, 4-y Mechnikava lane, 17",
	},
	{
		"г. Минск, ул. К. Маркса, 10",
		"г. Минск, ул. Маркса, 10",
		"г. Минск, ул. им. К. Маркса, 10",
	},
	{
		"247710, г. Калинковичи, ул. Советская, 7",
		"г. Калінкавічы, вул. Савецкая, 7",
		"Kalinkovichi, Sovetskaya st., 7",
		"Kalinkavichy, Savetskaya str., 7",
	},
	{
		"г. Минск, пр-т Дзержинского, 83",
		"г. Мінск, пр-т Дзяржынскага, 83",
		"Minsk, Dzerzhinskogo ave., 83",
		"Minsk, Dziarzhynskaha ave., 83",
	},
	{
		"246050, г. Гомель, ул. Билецкого, 10",
		"Homiel, Bilieckaha str., 10",
		"Gomel, Biletskogo street, 10",
	},
	{
		"211800, г. Глубокое, ул. Ленина, 42",
		"г. Глыбокае, вул. Леніна, 42",
		"42 Lenina street, Glubokoye, 211800",
	},
	{
		"г. Минск, ул. Зелёная, 1",
		"г. Минск, ул. Зеленая, 1",
		"г. Мінск, вул. Зялёная, 1",
	},
	{
		"223056, Минский р-н, д. Колядичи, д. 147/2",
		"Минский район, деревня Колядичи, дом 147/2",
		"223056, Мінскі р-н, в. Калядзічы, д. 147/2",
		"д.Колядичи, д.147/2, Минская обл.",
	},
	{
		"Минский р-н, аг. Сеница, ул. Зеленая, 1, к. 5 (с/м Гиппо)",
		"Минский р-н, аг. Сеница, ул. Зеленая, 1/5",
		"Минская обл., д. Сеница, ул. Зеленая, д. 1, корп. 5",
	},
	{
		"г. Минск, ул. Первомайская, 5",
		"г. Минск, ул. Первомаи\u0306ская, 5", // combining breve
		"г.\u00a0Минск, ул.\u00a0Первомайская,\u00a05",
	},
	{
		"г. Гродно, ул. Октябрьская, 3",
		"г. Гродна, вул. Кастрычніцкая, 3",
	},
	{
		"г. Брест, ул. Молодежная, 3",
		"г. Брэст, вул. Маладзёжная, 3",
	},
	{
		"220000, г. Минск, а/я 15",
		"220000, г. Минск, абонентский ящик 15",
		"220000, г. Мінск, а/с 15",
		"220000, Minsk, P.O. Box 15",
		"Minsk 220000, PO Box 15",
	},
	{ // Poste restante: the post office of the postcode, whatever street.
		"до востребования, 220030, г. Минск",
		"220030 Минск, До востребования",
		"Да запатрабавання, 220030, г. Мінск",
		"Poste restante, 220030, Minsk",
		"220030, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования",
	},
}

func TestMatchKeyEquivalent(t *testing.T) {
	t.Parallel()
	for _, group := range equivalentSpellings {
		want := mustParse(t, group[0]).MatchKey()
		for _, s := range group[1:] {
			if got := mustParse(t, s).MatchKey(); got != want {
				t.Errorf("MatchKey(%q) = %s\n want %s (from %q)", s, got, want, group[0])
			}
		}
	}
}

// nearMisses are pairs of different delivery points written alike; their
// match keys must differ.
var nearMisses = [][2]string{
	{"г. Минск, ул. Ленина, 5, кв. 12", "г. Минск, ул. Ленина, 5, кв. 13"},
	{"г. Минск, ул. Ленина, 5, кв. 12", "г. Минск, ул. Ленина, 5"},
	{"г. Минск, ул. Ленина, 5, кв. 12", "г. Минск, ул. Ленина, 5, кв. 12, комн. 3"},
	{"г. Минск, ул. Ленина, 5, кв. 12", "г. Минск, ул. Ленина, 5, кв. 21"},
	{"г. Минск, ул. Ленина, 5, кв. 12", "г. Минск, ул. Ленина, 5, кв. 1"},
	{"г. Минск, ул. Ленина, 5-12", "г. Минск, ул. Ленина, 5, кв. 13"},
	{"г. Минск, ул. Ленина, д. 24, корп. 2", "г. Минск, ул. Ленина, д. 24, корп. 3"},
	{"г. Минск, ул. Ленина, д. 24, корп. 2", "г. Минск, ул. Ленина, д. 24"},
	{"г. Минск, ул. Ленина, 24/2", "г. Минск, ул. Ленина, 24/3"},
	{"г. Минск, ул. Ленина, 24/2", "г. Минск, ул. Ленина, 24"},
	{"г. Минск, ул. Ленина, 24/2", "г. Минск, ул. Ленина, 2/24"},
	{"г. Минск, ул. Ленина, д. 5", "г. Минск, ул. Ленина, д. 7"},
	{"г. Минск, ул. Ленина, д. 5", "г. Минск, ул. Ленина, д. 55"},
	{"г. Минск, ул. Ленина, 26а", "г. Минск, ул. Ленина, 26б"},
	{"г. Минск, ул. Ленина, 26а", "г. Минск, ул. Ленина, 26"},
	{"г. Минск, ул. Ленина, 48-54", "г. Минск, ул. Ленина, 48"},
	{"г. Минск, ул. Ленина, 1, пом. 102Б", "г. Минск, ул. Ленина, 1, пом. 102В"},
	{"г. Минск, ул. Ленина, 1, пом. 102", "г. Минск, ул. Ленина, 1, пом. 102Б"},
	{"г. Минск, ул. Ленина, 5", "г. Минск, пер. Ленина, 5"},
	{"г. Минск, ул. Ленина, 5", "г. Минск, ул. Лунина, 5"},
	{"г. Минск, ул. Ленина, 5", "г. Брест, ул. Ленина, 5"},
	{"г. Минск, 2-й пер. Щорса, 5", "г. Минск, 3-й пер. Щорса, 5"},
	{"г. Минск, 2-й пер. Щорса, 5", "г. Минск, пер. Щорса, 5"},
	{"г. Минск, ул. 8 Марта, 5", "г. Минск, ул. 9 Марта, 5"},
	{"223056, д. Колядичи, д. 5", "224000, д. Колядичи, д. 5"},
	{"Минский р-н, д. Колядичи, д. 5", "Минский р-н, д. Колядичи, д. 6"},
	{"Минский р-н, д. Колядичи", "Минский р-н, д. Колядичи, д. 6"},
	{"Минский р-н, д. Колядичи", "Минский р-н, д. Боровляны"},
	{"г. Минск, ул. Гагарина, 13/1", "г. Минск, ул. Гагарина, 13/1, кв. 1"},
	{"220000, г. Минск, а/я 15", "220001, г. Минск, а/я 15"},
	{"220000, г. Минск, а/я 15", "220000, г. Минск, а/я 16"},
	{"г. Минск, ул. Ленина, 15", "г. Минск, а/я 15"},
	{"220013, г. Минск, ул. Дорошевича, 8, кв. 9", "220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования"},
	{"220013, г. Минск, до востребования", "220014, г. Минск, до востребования"},
	{"220013, г. Минск, до востребования", "220013, г. Минск"},
	{"220013, г. Минск, до востребования", "220013, г. Минск, а/я 15"},
	{"Republic of Belarus, 220088, Minsk, Pervomayskaya str., 24/2, room 102B",
		"Republic of Belarus, 220088, Minsk, Pervomayskaya str., 24/2, room 102V"},
}

func TestMatchKeyNearMiss(t *testing.T) {
	t.Parallel()
	for _, pair := range nearMisses {
		a, b := mustParse(t, pair[0]), mustParse(t, pair[1])
		if a.MatchKey() == b.MatchKey() {
			t.Errorf("%q and %q share match key %s", pair[0], pair[1], a.MatchKey())
		}
		if addressing.SameDeliveryPoint(a, b) {
			t.Errorf("SameDeliveryPoint(%q, %q) = true", pair[0], pair[1])
		}
	}
}

// TestMatchKeyStable checks that the key is a pure function of the input:
// parsing twice gives the same key, and the key recomputed from the fields
// of a stored copy is the same.
func TestMatchKeyStable(t *testing.T) {
	t.Parallel()
	for _, group := range equivalentSpellings {
		for _, s := range group {
			a, b := mustParse(t, s), mustParse(t, s)
			if a.MatchKey() != b.MatchKey() {
				t.Errorf("MatchKey(%q) differs between two parses", s)
			}
			stored := addressing.Address{
				Postcode: a.Postcode, Region: a.Region, District: a.District, Selsoviet: a.Selsoviet,
				SettlementType: a.SettlementType, Settlement: a.Settlement, StreetType: a.StreetType,
				Street: a.Street, House: a.House, Building: a.Building, Unit: a.Unit, Lang: a.Lang,
				PosteRestante: a.PosteRestante,
			}
			if stored.MatchKey() != a.MatchKey() {
				t.Errorf("MatchKey of stored %q = %s, want %s", s, stored.MatchKey(), a.MatchKey())
			}
			if strings.Count(a.MatchKey(), "|") != 5 {
				t.Errorf("MatchKey(%q) = %s: want 6 fields", s, a.MatchKey())
			}
		}
	}
}

func TestMatchKeyFormat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, key string }{
		{"220013, г.Минск, ул. Дорошевича, 8", "BY-HM|minsk|ul|darashevicha|8|"},
		{"Республика Беларусь, 220088, г. Минск, ул. Первомайская, д. 24, корп. 2, пом.102Б.", "BY-HM|minsk|ul|pervamaiskae|24/2|102b"},
		{"223056, Минский р-н, д. Колядичи, д. 147/2", "BY-MI|kaledichi|||147/2|"},
		{"220013", "BY-HM|minsk||||"},
		{"231300, Колядичи", "BY-HR|kaledichi||||"},
		{"274028, 5", "|#274028|||5|"},
		{"до востребования, 220030, г. Минск", "BY-HM|minsk||||restante@220030"},
		{"220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования", "BY-HM|minsk||||restante@220013"},
	} {
		if got := mustParse(t, c.in).MatchKey(); got != c.key {
			t.Errorf("MatchKey(%q) = %s, want %s", c.in, got, c.key)
		}
	}
}

func TestSameDeliveryPoint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"220013, г. Минск, ул. Дорошевича, 8", "г. Минск, ул. Дорошевича, 8", true},
		{"220013, г. Минск, ул. Дорошевича, 8", "220014, г. Минск, ул. Дорошевича, 8", false},
		{"Минский р-н, д. Колядичи, д. 5", "д. Колядичи, д. 5, Минская обл.", true},
		{"Минский р-н, д. Колядичи, д. 5", "Мінскі р-н, в. Калядзічы, д. 5", true},
		{"Минский р-н, д. Новоселки, д. 5", "Борисовский р-н, д. Новоселки, д. 5", false},
		{"Минский р-н, Дашковский с/с, д. Новоселки, д. 5", "Минский р-н, Щомыслицкий с/с, д. Новоселки, д. 5", false},
		{"Минский р-н, Дашковский с/с, д. Новоселки, д. 5", "Мінскі р-н, Дашкаўскі с/с, в. Навасёлкі, д. 5", true},
		{"Минский р-н, Дашковский с/с, д. Новоселки, д. 5", "Минский р-н, д. Новоселки, д. 5", true},
	} {
		if got := addressing.SameDeliveryPoint(mustParse(t, c.a), mustParse(t, c.b)); got != c.same {
			t.Errorf("SameDeliveryPoint(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

func TestNameKey(t *testing.T) {
	t.Parallel()
	for _, group := range [][]string{
		{"Дзержинского", "Дзяржынскага", "Dzerzhinskogo", "ДЗЕРЖИНСКОГО", "Dziaržynskaha"},
		{"Советская", "Савецкая", "Sovetskaya", "Savetskaja"},
		{"Ленина", "Леніна", "Ленiна", "Lenina", "Lienina"},
		{"Зелёная", "Зеленая", "Зялёная", "Zelenaya"},
		{"Щорса", "Шчорса", "Shchorsa"},
		{"Гомель", "Homiel", "Gomel", "Гомель"},
		{"Витебск", "Віцебск", "Vitebsk", "Viciebsk"},
		{"Могилёв", "Могилев", "Магілёў", "Mogilev", "Mahilioŭ"},
		{"Первомайская", "Pervomayskaya", "Pervomaiskaia", "Pervomajskaja"},
	} {
		want := addressing.NameKey(group[0])
		for _, s := range group[1:] {
			if got := addressing.NameKey(s); got != want {
				t.Errorf("NameKey(%q) = %q, want %q (as %q)", s, got, want, group[0])
			}
		}
	}
	for _, pair := range [][2]string{{"Ленина", "Лунина"}, {"Иванов", "Иванова"}, {"Жукова", "Зукова"}, {"Первомайская", "Першамайская"}} {
		if addressing.NameKey(pair[0]) == addressing.NameKey(pair[1]) {
			t.Errorf("NameKey(%q) == NameKey(%q)", pair[0], pair[1])
		}
	}
}
