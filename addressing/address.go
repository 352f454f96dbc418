package addressing

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadAddress is wrapped by every error Parse returns: the text is not a
// deliverable Belarusian postal address. The wrapping error says why.
var ErrBadAddress = errors.New("bad address")

// Address is a parsed, normalized Belarusian postal address. Names are kept
// as written (spacing and look-alike letters cleaned); type words are
// replaced by the canonical abbreviation of the address's language.
type Address struct {
	Postcode       string // six digits as written; never corrected
	Region         string // ISO 3166-2:BY code (BY-HM, BY-MI, ...), "" when unknown
	District       string // rural district name without its type: "Минский"
	Selsoviet      string // selsoviet name without its type: "Дашковский"
	SettlementType string // "г.", "аг.", "д." ("в." in Belarusian, "city" in English) or ""
	Settlement     string // "Минск", "Мінск", "Minsk", "Колядичи"
	StreetType     string // "ул.", "вул.", "пр-т", "str." ... or "" when there is no street
	Street         string // "Первомайская", "4-ый Мечникова", "50 лет БССР"
	House          string // "24/2", "26А", "48-54", "147/2"
	Building       string // корпус: "2"
	Unit           string // flat, premises, office, room or post office box with its type: "кв. 12", "пом. 102Б", "а/я 15"
	Rest           string // what is not part of the delivery point: organization names, remarks
	// PosteRestante marks an item held for collection at the post office
	// of the postcode ("до востребования"): the post office, not the
	// street address, is then the delivery point.
	PosteRestante bool `json:",omitempty"`
	Warnings      []string
	// Lang is the language the address is written in: "ru", "be" or "en".
	// It decides the abbreviations of the fields and of Lines.
	Lang string
}

// MatchKey returns a key that is equal for two spellings of the same
// delivery point and different when the house, building or unit differ.
// It is built from the fields only, so it can be recomputed from a stored
// Address:
//
//	region | settlement | street type | street | house[/building] | unit numbers[@postcode of a box]
//	region | settlement | | | | restante[@postcode]       (poste restante)
//
// Names are reduced to the skeleton described in the package documentation;
// known cities to the skeleton of their Russian name; the street type to a
// code (ул./вул./str. = ul), so that only what identifies the point remains.
// The postcode and the district are not part of the key because people
// often omit them; SameDeliveryPoint compares them when both sides have them.
func (a Address) MatchKey() string {
	b := make([]byte, 0, 80)
	b = append(b, a.Region...)
	b = append(b, '|')
	switch {
	case a.Settlement != "":
		start := len(b)
		b = foldAppend(b, fixLookalikes(a.Settlement))
		if c, ok := cityIndex()[string(b[start:])]; ok {
			b = append(b[:start], c.canon...)
		}
	case a.Region == RegionMinskCity:
		b = append(b, minskKey...)
	case a.Postcode != "":
		b = append(b, '#')
		b = append(b, a.Postcode...)
	}
	b = append(b, '|')
	if a.PosteRestante {
		// Held at the post office whatever street is written: the post
		// office is the delivery point, named by its postcode.
		b = append(b, "|||"+posteRestanteKey...)
		if a.Postcode != "" {
			b = append(b, '@')
			b = append(b, a.Postcode...)
		}
		return string(b)
	}
	if a.Street != "" || a.StreetType != "" {
		b = append(b, streetCode(a.StreetType)...)
		b = append(b, '|')
		b = appendStreetKey(b, a.Street)
	} else {
		b = append(b, '|')
	}
	b = append(b, '|')
	b = appendNumberKey(b, a.House)
	if a.Building != "" {
		b = append(b, '/')
		b = appendNumberKey(b, a.Building)
	}
	b = append(b, '|')
	b = appendUnitKey(b, a.Unit)
	if hasPOBox(a.Unit) && a.Postcode != "" {
		// Box numbers are per post office: the postcode is part of the box.
		b = append(b, '@')
		b = append(b, a.Postcode...)
	}
	return string(b)
}

// minskKey is the settlement skeleton of Minsk, implied by region BY-HM.
const minskKey = "minsk"

// posteRestanteKey marks poste restante in the unit field of a match key;
// no unit key contains it, because unit keys hold numbers only.
const posteRestanteKey = "restante"

// SameDeliveryPoint reports whether a and b name the same delivery point:
// equal match keys, and equal postcodes, districts and selsoviets where
// both addresses have them. It is stricter than comparing match keys and is what a router
// should use once a key lookup found candidates.
func SameDeliveryPoint(a, b Address) bool {
	return a.MatchKey() == b.MatchKey() && SameLocality(a, b)
}

// SameLocality reports whether what the match key leaves out agrees:
// postcodes, districts and selsoviets, where both addresses have them. A
// router that found candidates by key uses it to tell namesake villages
// and other post offices apart.
func SameLocality(a, b Address) bool {
	if a.Postcode != "" && b.Postcode != "" && a.Postcode != b.Postcode {
		return false
	}
	return sameArea(a.District, b.District) && sameArea(a.Selsoviet, b.Selsoviet)
}

// sameArea compares two district or selsoviet names where both are
// written: villages of one name exist in several districts and, within a
// district, in several selsoviets.
func sameArea(a, b string) bool {
	return a == "" || b == "" || districtStem(fold(fixLookalikes(a))) == districtStem(fold(fixLookalikes(b)))
}

// streetCode maps a street type abbreviation in any language to the code
// used in the match key.
func streetCode(t string) string {
	w := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(t), "."))
	w = strings.ReplaceAll(w, "ё", "е")
	if m := lookupMarker(w); m.class == markStreet {
		return streetNames[m.kind][3]
	}
	return fold(w)
}

// appendStreetKey appends the key of a street name: ordinals first as bare
// numbers (4-ый = 4-й = 4), initials and "им." dropped, each word folded
// with the Belarusian-Russian lexicon applied.
func appendStreetKey(b []byte, street string) []byte {
	street = fixLookalikes(street)
	first := true
	sep := func() {
		if !first {
			b = append(b, ' ')
		}
		first = false
	}
	for f := range strings.FieldsSeq(street) {
		if isDigit(f[0]) && isOrdinal(strings.ToLower(f)) {
			d, _ := leadingDigits(f)
			sep()
			b = append(b, d...)
		}
	}
	for f := range strings.FieldsSeq(street) {
		w := strings.TrimSuffix(f, ".")
		switch {
		case isDigit(f[0]) && isOrdinal(strings.ToLower(f)):
		case utf8.RuneCountInString(w) == 1 && isLetter(firstRune(w)):
			// An initial: "К. Маркса" = "Маркса".
		case len(w) <= 10 && isNameFiller(strings.ToLower(w)):
		default:
			sep()
			b = streetWordKey(b, f)
		}
	}
	return b
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// appendNumberKey appends the key of a house, building or unit number:
// lower-case, each letter transliterated (Б and a Latin B of an English
// address are both "b"), digits and / - kept, anything else dropped.
func appendNumberKey(b []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (isDigit(byte(r)) || r == '/' || r == '-'):
			b = append(b, byte(r))
		case r < utf8.RuneSelf && unicode.IsLetter(r):
			b = append(b, byte(unicode.ToLower(r)))
		case unicode.IsLetter(r):
			r = unicode.ToLower(r)
			if m, ok := cyrFold(r); ok {
				b = append(b, m...)
			} else if m, ok := latinExtFold(r); ok {
				b = append(b, m...)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return b
}

// appendUnitKey appends the numbers of a unit ("кв. 5, комн. 2" → "5/2").
// The unit types are left out: "room 102B" and "пом.102Б" are the same
// premises, and a flat and an office with the same number in one building
// are told apart by the holder's name, which routing also requires. A post
// office box is the exception: "box" marks it, because a box is not in a
// house.
func appendUnitKey(b []byte, unit string) []byte {
	first := true
	for f := range strings.FieldsFuncSeq(unit, func(r rune) bool { return r == ' ' || r == ',' }) {
		switch m := unitMarker(f); {
		case m.class == markUnit && unitKind(m.kind) == unitPOBox:
			b = append(b, "box"...)
			continue
		case m.class == markUnit:
			continue
		case strings.EqualFold(f, "P.O.") || strings.EqualFold(f, "Box"):
			continue
		}
		if !first {
			b = append(b, '/')
		}
		first = false
		b = appendNumberKey(b, f)
	}
	return b
}

// unitMarker classifies one word of a Unit field.
func unitMarker(f string) marker {
	return lookupMarker(strings.ReplaceAll(strings.ToLower(strings.TrimSuffix(f, ".")), "ё", "е"))
}

// hasPOBox reports whether a Unit field names a post office box.
func hasPOBox(unit string) bool {
	for f := range strings.FieldsFuncSeq(unit, func(r rune) bool { return r == ' ' || r == ',' }) {
		if m := unitMarker(f); m.class == markUnit && unitKind(m.kind) == unitPOBox {
			return true
		}
		if strings.EqualFold(f, "box") {
			return true
		}
	}
	return false
}

// Lines returns the address formatted for an envelope in the order Belpost
// requires for domestic mail (the same order as UPU S42 for Belarus): the
// remark or organization line, then street, house, building and unit, the
// settlement, the selsoviet, district and region, and the postcode last.
// The recipient's name, which comes first on the envelope, is not part of
// the address. The region is omitted for Minsk city, which is not in a
// region.
func (a Address) Lines() []string {
	l := parseLang(a.Lang)
	lines := make([]string, 0, 5)
	if a.Rest != "" {
		lines = append(lines, a.Rest)
	}
	var street []string
	if a.Street != "" {
		street = append(street, streetPhrase(l, a.StreetType, a.Street))
	}
	if a.House != "" {
		if h := houseNames[l]; h != "" {
			street = append(street, h+" "+a.House)
		} else {
			street = append(street, a.House)
		}
	}
	if a.Building != "" {
		street = append(street, buildingNames[l]+" "+a.Building)
	}
	if a.Unit != "" {
		street = append(street, a.Unit)
	}
	if len(street) > 0 {
		lines = append(lines, strings.Join(street, ", "))
	}
	if a.PosteRestante {
		lines = append(lines, posteRestanteNames[l])
	}
	if a.Settlement != "" {
		lines = append(lines, settlementPhrase(l, a.SettlementType, a.Settlement))
	}
	var area []string
	if a.Selsoviet != "" {
		area = append(area, a.Selsoviet+" "+selsovietNames[l])
	}
	if a.District != "" {
		area = append(area, a.District+" "+districtNames[l])
	}
	if a.Region != "" && a.Region != RegionMinskCity {
		if r, ok := regionByCode(a.Region); ok {
			area = append(area, r.display[l])
		}
	}
	if len(area) > 0 {
		lines = append(lines, strings.Join(area, ", "))
	}
	if a.Postcode != "" {
		lines = append(lines, a.Postcode)
	}
	return lines
}

// String returns the address on one line, in the order of Lines.
func (a Address) String() string { return strings.Join(a.Lines(), ", ") }

// streetPhrase writes the street type before the name in Russian and
// Belarusian (an ordinal stays in front: "4-ый пер. Мечникова") and after it
// in English ("Lenina str.").
func streetPhrase(l lang, typ, name string) string {
	if typ == "" {
		return name
	}
	if l == langEN {
		return name + " " + typ
	}
	if f, rest, ok := strings.Cut(name, " "); ok && isOrdinal(strings.ToLower(f)) {
		return f + " " + typ + " " + rest
	}
	return typ + " " + name
}

func settlementPhrase(l lang, typ, name string) string {
	switch {
	case typ == "":
		return name
	case l != langEN:
		return typ + " " + name
	case typ == settlementNames[settlementCity][langEN]:
		return name
	}
	return name + " " + typ
}
