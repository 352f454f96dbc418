package addressing_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/npes/npes/addressing"
)

// TestParseStrict is the rule for mailbox addresses: accepted only when
// every part is understood and the parts agree, so that the envelope of the
// activation letter names exactly the delivery point of the match key.
func TestParseStrict(t *testing.T) {
	t.Parallel()
	good := func(in, key string) {
		t.Helper()
		a, err := addressing.ParseStrict(in)
		if err != nil {
			t.Errorf("ParseStrict(%q): %v", in, err)
			return
		}
		if got := a.MatchKey(); got != key {
			t.Errorf("ParseStrict(%q) key = %s, want %s", in, got, key)
		}
	}
	bad := func(in string, wantErr error, why ...string) {
		t.Helper()
		_, err := addressing.ParseStrict(in)
		if err == nil {
			t.Errorf("ParseStrict(%q) accepted, want %v", in, wantErr)
			return
		}
		if !errors.Is(err, wantErr) {
			t.Errorf("ParseStrict(%q) = %v, want it to wrap %v", in, err, wantErr)
		}
		for _, w := range why {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseStrict(%q) = %v, want it to say %q", in, err, w)
			}
		}
	}

	good("220013, г. Минск, ул. Дорошевича, д. 8, кв. 5", "BY-HM|minsk|ul|darashevicha|8|5")
	good("Республика Беларусь, 220088, г. Минск, ул. Первомайская, д. 24, корп. 2, пом.102Б.", "BY-HM|minsk|ul|pervamaiskae|24/2|102b")
	good("Адрес: 220013, Минск, Дорошевича 8-5", "BY-HM|minsk|ul|darashevicha|8|5") // a label is not a part
	good("223056, Минский р-н, д. Колядичи, д. 147/2", "BY-MI|kaledichi|||147/2|")
	good("223056, Минский р-н, д. Колядичи", "BY-MI|kaledichi||||") // rural: delivered by name
	good("220000, г. Минск, а/я 15", "BY-HM|minsk||||box15@220000")
	good("до востребования, 220030, г. Минск", "BY-HM|minsk||||restante@220030")
	good("Poste restante, 220030, Minsk", "BY-HM|minsk||||restante@220030")

	// The example and its class: text the key does not cover.
	bad("220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования", addressing.ErrInexactAddress,
		"poste restante is collected at the post office")
	bad("220013, г. Минск, ул. Дорошевича, 8, кв. 9, у Петровых", addressing.ErrInexactAddress,
		`"у Петровых" is not part of a delivery point`)
	bad("220013, г. Минск, ул. Дорошевича, 8, кв. 9, для передачи в отделение 30", addressing.ErrInexactAddress,
		"is not part of a delivery point")
	bad("ООО «Ромашка», 220013, г. Минск, ул. Дорошевича, 8", addressing.ErrInexactAddress, "Ромашка")
	bad("220013, г. Минск, ул. Дорошевича, 8, кв. 9 (оставить у соседей)", addressing.ErrInexactAddress, "оставить у соседей")
	bad("220013, г. Минск, ул. Дорошевича, 8, подъезд 2, кв. 9", addressing.ErrInexactAddress, "подъезд 2")
	bad("220013, г. Минск, ул. Дорошевича, 8, кв. 9, 14", addressing.ErrInexactAddress, "14")
	bad("220013, г. Минск, г. Гомель, ул. Дорошевича, 8", addressing.ErrInexactAddress, "Гомель")
	bad("220013, 246050, г. Минск, ул. Дорошевича, 8", addressing.ErrInexactAddress, "246050")
	// Sides that disagree: the postcode takes the letter elsewhere.
	bad("246050, г. Минск, ул. Дорошевича, 8, кв. 9", addressing.ErrInexactAddress, "postcode 246050 is in BY-HO but Минск is in BY-HM")
	bad("274028, г. Брест, ул. Советская, 8", addressing.ErrInexactAddress, "no Belarusian region prefix")
	bad("220013, Гомельская обл., г. Минск, ул. Дорошевича, 8", addressing.ErrInexactAddress, "region is written as")
	bad("223056, Тьмутараканская обл., д. Колядичи", addressing.ErrInexactAddress, "unknown region")
	bad("246050, Минский р-н, д. Колядичи, д. 5", addressing.ErrInexactAddress, "Минский р-н is in BY-MI")
	// No door in a city.
	bad("до востребования, г. Минск", addressing.ErrInexactAddress, "no postcode")
	bad("220030, г. Минск", addressing.ErrInexactAddress, "no street and no house number in a city")
	bad("220030, г. Минск, д. 5", addressing.ErrInexactAddress, "house number without a street")
	// Boxes and poste restante are at the post office.
	bad("220000, г. Минск, ул. Ленина, 5, а/я 15", addressing.ErrInexactAddress, "post office box is at the post office")
	bad("220000, г. Минск, а/я 15, кв. 3", addressing.ErrInexactAddress, "post office box is at the post office")
	bad("220000, г. Минск, до востребования, а/я 15", addressing.ErrInexactAddress, "poste restante is collected")
	bad("г. Минск, ул. Дорошевича, 8, кв. 9", addressing.ErrInexactAddress, "no postcode")
	// What Parse refuses stays ErrBadAddress.
	bad("г. Минск, ул. Ленина", addressing.ErrBadAddress, "street address without a house number")
	bad("", addressing.ErrBadAddress, "empty address")
}

// TestParseStrictPrintsTheKey is the property the activation letter relies
// on, over every table address: when ParseStrict accepts, the address has
// nothing outside its key (no Rest), its key is the one Parse gives and
// letters are routed by, and its printed Lines — what the envelope shows —
// parse strictly back to the same delivery point.
func TestParseStrictPrintsTheKey(t *testing.T) {
	t.Parallel()
	inputs := readTestdata(t)
	for _, c := range parseCases {
		inputs = append(inputs, c.in)
	}
	for _, g := range equivalentSpellings {
		inputs = append(inputs, g...)
	}
	accepted := 0
	for _, in := range inputs {
		loose, err := addressing.Parse(in)
		a, serr := addressing.ParseStrict(in)
		if err == nil && a.MatchKey() != loose.MatchKey() {
			t.Errorf("%q: DeliveryPoint key %s, Parse key %s", in, a.MatchKey(), loose.MatchKey())
		}
		if serr != nil {
			continue
		}
		accepted++
		if a.Rest != "" {
			t.Errorf("ParseStrict(%q) accepted with Rest %q", in, a.Rest)
		}
		printed := strings.Join(a.Lines(), "\n")
		b, err := addressing.ParseStrict(printed)
		if err != nil {
			t.Errorf("ParseStrict(%q) accepted, its envelope %q is refused: %v", in, printed, err)
			continue
		}
		if b.MatchKey() != a.MatchKey() || !addressing.SameDeliveryPoint(a, b) {
			t.Errorf("envelope of %q = %q names %s, want %s", in, printed, b.MatchKey(), a.MatchKey())
		}
	}
	if accepted < 50 {
		t.Fatalf("only %d table addresses accepted strictly: the table no longer exercises the property", accepted)
	}
}

// TestDeliveryPoint keeps what the key covers and drops the rest.
func TestDeliveryPoint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, lines string }{
		{"220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования", "до востребования|г. Минск|220013"},
		{"Хлебозавод «Автомат», 220013, г. Минск, ул. Дорошевича, 8", "ул. Дорошевича, д. 8|г. Минск|220013"},
		{"Poste restante, 220030, Minsk", "Poste restante|Minsk|220030"},
		{"Да запатрабавання, 220030, г. Мінск", "да запатрабавання|г. Мінск|220030"},
	} {
		a := mustParse(t, c.in)
		d := a.DeliveryPoint()
		if got := strings.Join(d.Lines(), "|"); got != c.lines {
			t.Errorf("DeliveryPoint(%q).Lines() = %q, want %q", c.in, got, c.lines)
		}
		if d.MatchKey() != a.MatchKey() {
			t.Errorf("DeliveryPoint(%q) changed the key: %s, want %s", c.in, d.MatchKey(), a.MatchKey())
		}
	}
}
