package addressing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// role is what a part of the address turned out to be.
type role uint8

const (
	roleNone role = iota
	rolePostcode
	roleCountry
	roleRegion
	roleDistrict
	roleSelsoviet
	roleSettlement
	roleStreet
	roleHouse
	roleBuilding
	roleUnit
	roleWords  // words without a type word; resolved after all parts are known
	roleNumber // a number without a type word; resolved likewise
	roleNote   // a parenthesised remark
	roleRestante
)

// part is a recognised piece of the address: a name (token range a..b) with
// its type, or a number (token num, with a detached letter suffix).
type part struct {
	role role
	kind uint8 // settlementKind, streetKind or unitKind
	comp int   // index of the comma-separated component
	a, b int   // name tokens [a, b)
	// from, to are the tokens of the whole phrase, type word included, for
	// quoting it in Rest and in warnings.
	from, to int
	ord      int // token of an ordinal written before the street type (4-ый пер.), or -1
	num      int // number token, or -1
	suf      int // detached letter of a house number ("2 А"), or -1
	// Words only.
	quoted        bool // contained quotes: an organization's name
	followedByNum bool // a number followed in the same component ("Ленина 5")
	// Set by resolve.
	rest bool // goes to Address.Rest
}

type parser struct {
	n     normalized
	toks  []token
	parts []part
	lang  lang
	latin bool // the address is written in Latin letters
	warn  []string
	// inexact lists what keeps the address from naming exactly one
	// delivery point (ParseStrict refuses it); each is also a warning.
	inexact []string
}

// Parse parses a Belarusian postal address written in Russian, Belarusian or
// Latin transliteration, in any of the orders people use, and returns it
// normalized. See the package documentation for the grammar.
//
// Inconsistencies that leave the address deliverable are reported in
// Address.Warnings. An address that cannot be delivered is an error wrapping
// ErrBadAddress with the precise reason; the returned Address then still
// holds what was recognised, for display.
func Parse(raw string) (Address, error) {
	a, _, err := parse(raw)
	return a, err
}

func parse(raw string) (Address, *parser, error) {
	if len(raw) > MaxAddressLen {
		return Address{Warnings: []string{}}, nil, fmt.Errorf("%w: too long: %d bytes (at most %d)", ErrBadAddress, len(raw), MaxAddressLen)
	}
	if !utf8.ValidString(raw) {
		return Address{Warnings: []string{}}, nil, fmt.Errorf("%w: not valid UTF-8", ErrBadAddress)
	}
	p := new(parser)
	p.n = normalize(raw)
	// Typical addresses have under 32 tokens and 16 parts: one allocation
	// each.
	p.toks = tokenize(make([]token, 0, 32), p.n.text, p.n.low)
	p.parts = make([]part, 0, 16)
	p.latin = p.n.lat > p.n.cyr
	p.split()
	p.lang = p.detectLang()
	a, err := p.resolve()
	return a, p, err
}

// split cuts the tokens into components at separators and parses each.
func (p *parser) split() {
	comp, start := 0, 0
	for i := 0; i <= len(p.toks); i++ {
		if i == len(p.toks) || p.toks[i].kind == tokSep {
			if i > start {
				p.component(comp, start, i)
				comp++
			}
			start = i + 1
		}
	}
}

// detectLang decides the language of the canonical abbreviations: English
// when Latin letters dominate, else Belarusian when its type words and
// letters (і, ў) outweigh the Russian ones (и, щ, ъ).
func (p *parser) detectLang() lang {
	if p.latin {
		return langEN
	}
	be, ru := p.n.be, p.n.ru
	for i := range p.toks {
		switch p.toks[i].mk.hint {
		case hintBE:
			be += 3
		case hintRU:
			ru += 3
		}
	}
	if be > ru {
		return langBE
	}
	return langRU
}

func (p *parser) add(pt part) { p.parts = append(p.parts, pt) }

// txt is the display text of a token.
func (p *parser) txt(t *token) string { return p.n.text[t.start:t.end] }

// low is the lower-cased text of a token, for vocabulary lookups.
func (p *parser) low(t *token) string { return p.n.low[t.start:t.end] }

func (p *parser) word(i int) *token {
	if i < 0 || i >= len(p.toks) || p.toks[i].kind != tokWord {
		return nil
	}
	return &p.toks[i]
}

// markerAt returns the marker at token i, trying two-word types first
// ("г. п.", "сельский совет"), and how many tokens it spans.
func (p *parser) markerAt(i, b int) (marker, int) {
	t := &p.toks[i]
	if i+2 < b && p.low(t) == "p" && p.word(i+1) != nil && p.low(&p.toks[i+1]) == "o" {
		// "P.O. Box".
		if u := p.word(i + 2); u != nil && p.low(u) == "box" {
			return u.mk, 3
		}
	}
	if i+1 < b {
		if u := p.word(i + 1); u != nil {
			if m := lookupMarker2(p.low(t), p.low(u)); m.class != markNone {
				return m, 2
			}
		}
	}
	return t.mk, 1
}

// isPlainWord reports a word that is not a type word, i.e. part of a name.
func (p *parser) isPlainWord(i, b int) bool {
	t := p.word(i)
	if t == nil || i >= b {
		return false
	}
	switch t.mk.class {
	case markNone:
		// "г. Минск до востребования": the two-word marker ends the name.
		if u := p.word(i + 1); u != nil && i+1 < b && lookupMarker2(p.low(t), p.low(u)).class == markPosteRestante {
			return false
		}
		return true
	case markCountryFiller:
		// "of" in a name, or "Республика" not followed by Беларусь.
		return !p.countryAhead(i, b)
	}
	return false
}

// countryAhead reports whether fillers starting at i lead to a country word.
func (p *parser) countryAhead(i, b int) bool {
	for ; i < b; i++ {
		t := p.word(i)
		if t == nil {
			return false
		}
		switch t.mk.class {
		case markCountryFiller:
			continue
		case markCountry:
			return true
		}
		return false
	}
	return false
}

// isInitial reports an upper-case single letter with a full stop followed by
// a word: the initial of a name inside a street name ("ул. К. Маркса").
func (p *parser) isInitial(i, b int) bool {
	t := p.word(i)
	if t == nil || t.letters != 1 || !t.dot || i+1 >= b || p.word(i+1) == nil {
		return false
	}
	r, _ := utf8.DecodeRuneInString(p.txt(t))
	return unicode.IsUpper(r)
}

// nameStarts reports whether a name begins at token i.
func (p *parser) nameStarts(i, b int) bool {
	if i >= b {
		return false
	}
	if p.isPlainWord(i, b) || p.isInitial(i, b) {
		return true
	}
	t := &p.toks[i]
	if t.kind == tokNum && (t.ordinal || (i+1 < b && p.isPlainWord(i+1, b) && !isPostcode(p.txt(t)))) {
		return true
	}
	return t.kind == tokQuote
}

// nameEnd returns the end of a name of plain words starting at i.
func (p *parser) nameEnd(i, b int) int {
	for i < b && (p.isPlainWord(i, b) || p.toks[i].kind == tokQuote) {
		i++
	}
	return i
}

// streetNameEnd returns the end of a street name starting at i: plain
// words, initials right after the type or after another initial, ordinals,
// and a number that is followed by a word ("50 лет БССР", "8 Марта").
func (p *parser) streetNameEnd(i, b int) int {
	words := 0
	initial := false
	for i < b {
		t := &p.toks[i]
		switch {
		case t.kind == tokQuote:
		case p.isPlainWord(i, b) && isNameFiller(p.low(t)):
			// "ул. им. К. Маркса": the initial may follow "им.".
		case p.isPlainWord(i, b):
			words++
			initial = false
		case t.kind == tokWord && (words == 0 || initial) && p.isInitial(i, b):
			initial = true
		case t.kind == tokNum && t.ordinal:
			words++
		case t.kind == tokNum && words == 0 && !isPostcode(p.txt(t)) && p.isPlainWord(i+1, b):
			words++
		default:
			return i
		}
		i++
	}
	return i
}

// typeWithoutName reports a type word at i that can follow its name and has
// no name after it: the last word of a preceding name belongs to it
// ("г. Минск Партизанский пр-т 170").
func (p *parser) typeWithoutName(i, b int) bool {
	if p.word(i) == nil {
		return false
	}
	m, n := p.markerAt(i, b)
	switch m.class {
	case markStreet, markDistrict, markRegion, markSelsoviet:
		return !p.nameStarts(i+n, b)
	}
	return false
}

func roleOf(c markerClass) role {
	switch c {
	case markRegion:
		return roleRegion
	case markDistrict:
		return roleDistrict
	case markSelsoviet:
		return roleSelsoviet
	case markBuilding:
		return roleBuilding
	case markUnit:
		return roleUnit
	}
	return roleHouse
}

// newPart returns a part of role r over tokens [a, b) with no number.
func newPart(r role, comp, a, b int) part {
	return part{role: r, comp: comp, a: a, b: b, from: a, to: b, ord: -1, num: -1, suf: -1}
}

// spanning returns pt with its phrase extended to the tokens [from, to).
func spanning(pt part, from, to int) part {
	pt.from, pt.to = min(pt.from, from), max(pt.to, to)
	return pt
}

// component parses the tokens [a, b) of one comma-separated component.
// Words without a type word accumulate as "pending" until a type word
// claims them (a type written after its name: "Минский р-н", "Lenina
// street") or something else ends them.
func (p *parser) component(ci, a, b int) {
	ps := -1 // first pending token
	quoted := false
	flush := func(end int, followedByNum bool) {
		if ps >= 0 {
			for k := ps; k < end; k++ {
				if p.toks[k].kind != tokQuote {
					w := newPart(roleWords, ci, ps, end)
					w.quoted, w.followedByNum = quoted, followedByNum
					p.add(w)
					break
				}
			}
		}
		ps, quoted = -1, false
	}
	pend := func(i int) {
		if ps < 0 {
			ps = i
		}
	}
	hasPending := func(end int) bool {
		if ps < 0 {
			return false
		}
		for k := ps; k < end; k++ {
			if p.toks[k].kind == tokWord || p.toks[k].kind == tokNum {
				return true
			}
		}
		return false
	}
	for i := a; i < b; {
		t := &p.toks[i]
		switch t.kind {
		case tokNote:
			flush(i, false)
			p.add(newPart(roleNote, ci, i, i+1))
			i++
			continue
		case tokQuote:
			pend(i)
			quoted = true
			i++
			continue
		case tokNum:
			if t.ordinal {
				pend(i)
				i++
				continue
			}
			flush(i, true)
			i = p.number(ci, i, b, roleNumber, 0)
			continue
		}
		m, n := p.markerAt(i, b)
		i0, next := i, i+n
		nextNum := next < b && p.toks[next].kind == tokNum && !p.toks[next].ordinal
		switch m.class {
		case markNone:
			pend(i)
			i++
		case markCountryFiller:
			if p.countryAhead(i, b) {
				flush(i, false)
				j := i
				for j < b && p.word(j) != nil && p.word(j).mk.class == markCountryFiller {
					j++
				}
				p.add(newPart(roleCountry, ci, i, j+1))
				i = j + 1
			} else if p.low(t) == "of" && nextNum {
				flush(i, false)
				i = p.number(ci, next, b, roleUnit, uint8(unitOffice))
				p.parts[len(p.parts)-1].from = i0
			} else {
				pend(i)
				i++
			}
		case markCountry:
			flush(i, false)
			p.add(newPart(roleCountry, ci, i, next))
			i = next
		case markRegion, markDistrict, markSelsoviet:
			r := roleOf(m.class)
			if hasPending(i) {
				// "Минский р-н": the type follows the name.
				p.add(spanning(newPart(r, ci, ps, i), ps, next))
				ps, quoted = -1, false
				i = next
				continue
			}
			flush(i, false)
			j := p.nameEnd(next, b)
			if j-next >= 2 && p.typeWithoutName(j, b) {
				j--
			}
			if j > next {
				p.add(spanning(newPart(r, ci, next, j), i, j))
			}
			i = j
		case markSettlement:
			if m.house && nextNum {
				// "д. 7": a house. "д. Колядичи": a village.
				flush(i, false)
				i = p.number(ci, next, b, roleHouse, 0)
				p.parts[len(p.parts)-1].from = i0
				continue
			}
			j := p.nameEnd(next, b)
			if j > next {
				flush(i, false)
				if j-next >= 2 && p.typeWithoutName(j, b) {
					j--
				}
				pt := spanning(newPart(roleSettlement, ci, next, j), i, j)
				pt.kind = m.kind
				p.add(pt)
				i = j
				continue
			}
			if hasPending(i) {
				// "Minsk city", "Selishcha village".
				pt := spanning(newPart(roleSettlement, ci, ps, i), ps, next)
				pt.kind = m.kind
				p.add(pt)
				ps, quoted = -1, false
			}
			i = next
		case markStreet:
			if hasPending(i) && !p.onlyOrdinals(ps, i) && !p.nameStarts(next, b) {
				// "Pervomayskaya str.", "Партизанский пр-т 170".
				pt := spanning(newPart(roleStreet, ci, ps, i), ps, next)
				pt.kind = m.kind
				p.add(pt)
				ps, quoted = -1, false
				i = next
				continue
			}
			ord := -1
			if hasPending(i) && p.onlyOrdinals(ps, i) {
				// "4-ый пер. Мечникова".
				ord = i - 1
				ps, quoted = -1, false
			} else {
				flush(i, false)
			}
			j := p.streetNameEnd(next, b)
			if j > next || ord >= 0 {
				pt := spanning(newPart(roleStreet, ci, next, j), i, j)
				if j == next {
					pt.a, pt.b = ord, ord+1
				} else {
					pt.ord = ord
				}
				if ord >= 0 {
					pt = spanning(pt, ord, j)
				}
				pt.kind = m.kind
				p.add(pt)
			}
			i = j
		case markPosteRestante:
			flush(i, false)
			p.add(spanning(newPart(roleRestante, ci, i, next), i, next))
			i = next
		case markExtra:
			// "подъезд 2", "этаж 3": kept for the postman, not the key.
			flush(i, false)
			j := next
			if nextNum {
				j++
			}
			pt := spanning(newPart(roleNote, ci, i, j), i, j)
			p.add(pt)
			i = j
		case markHouse, markBuilding, markUnit:
			if !nextNum {
				// "Дом культуры", "Офис продаж", "К. Маркса": a word.
				pend(i)
				i++
				continue
			}
			flush(i, false)
			i = p.number(ci, next, b, roleOf(m.class), m.kind)
			p.parts[len(p.parts)-1].from = i0
		default:
			pend(i)
			i++
		}
	}
	flush(b, false)
}

// onlyOrdinals reports whether tokens [a, b) are all ordinal numbers.
func (p *parser) onlyOrdinals(a, b int) bool {
	for k := a; k < b; k++ {
		if p.toks[k].kind != tokNum || !p.toks[k].ordinal {
			return false
		}
	}
	return b > a
}

// number records the number token at i in the given role, with a detached
// one-letter suffix ("2 А") when one follows, and returns the next index.
func (p *parser) number(ci, i, b int, r role, kind uint8) int {
	pt := newPart(r, ci, i, i+1)
	pt.kind, pt.num = kind, i
	j := i + 1
	if r == roleNumber && isPostcode(p.txt(&p.toks[i])) {
		pt.role = rolePostcode
	} else if p.detachedLetter(j, b) {
		pt.suf = j
		pt.b, pt.to = j+1, j+1
		j++
	}
	p.add(pt)
	return j
}

// detachedLetter reports a single letter written apart from its house
// number ("2 А"), as opposed to a type word ("2 к 1", "5 д. Колядичи").
func (p *parser) detachedLetter(j, b int) bool {
	t := p.word(j)
	if j >= b || t == nil || t.letters != 1 {
		return false
	}
	if j+1 < b {
		if t.dot || p.toks[j+1].kind == tokNum {
			return false
		}
		if t.mk.class != markNone && p.word(j+1) != nil {
			return false
		}
	}
	r, _ := utf8.DecodeRuneInString(p.low(t))
	switch r {
	case 'ь', 'ъ', 'ы', 'й':
		return false
	}
	return true
}

// text renders the name of a part: its words separated by spaces, with the
// full stop kept after initials and short abbreviations inside the name.
func (p *parser) text(pt *part) string {
	var b strings.Builder
	if pt.ord >= 0 {
		b.WriteString(p.txt(&p.toks[pt.ord]))
	}
	for k := pt.a; k < pt.b; k++ {
		t := &p.toks[k]
		if t.kind == tokQuote {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.txt(t))
		if t.dot && k+1 < pt.b && t.kind == tokWord && t.letters <= 3 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// raw returns the phrase of a part exactly as written, type word, quotes
// and brackets included.
func (p *parser) raw(pt *part) string {
	return p.span(pt.from, pt.to)
}

// span returns the input from token from to token to-1, with the full stop
// of an abbreviation at its end.
func (p *parser) span(from, to int) string {
	last := &p.toks[to-1]
	end := int(last.end)
	if last.dot && last.kind == tokWord && last.letters <= 4 && end < len(p.n.text) && p.n.text[end] == '.' {
		end++
	}
	return strings.TrimSpace(p.n.text[p.toks[from].start:end])
}

// resolve decides the parts without a type word, fills the Address,
// validates it and computes the region.
func (p *parser) resolve() (Address, error) {
	a := Address{Lang: p.lang.String(), Warnings: []string{}}
	var (
		settlement, street, house, building *part
		units, words, numbers               []*part
		writtenRegion                       string
		regionName                          string
		selsovietSeen, districtSeen         bool
	)
	for i := range p.parts {
		pt := &p.parts[i]
		switch pt.role {
		case rolePostcode:
			if a.Postcode == "" {
				a.Postcode = p.txt(&p.toks[pt.num])
			} else {
				pt.rest = true
				p.warnf("second postcode %s kept in rest", p.txt(&p.toks[pt.num]))
			}
		case roleRegion:
			name := p.text(pt)
			if regionName != "" {
				pt.rest = true
				p.warnf("second region %q kept in rest", name)
				continue
			}
			regionName = name
			if code, ok := regionOfName(name); ok {
				writtenRegion = code
			} else {
				p.conflictf("unknown region %q", name)
			}
		case roleDistrict:
			if districtSeen {
				pt.rest = true
				p.warnf("second district %q kept in rest", p.raw(pt))
				continue
			}
			districtSeen = true
			a.District = p.text(pt)
		case roleSelsoviet:
			if selsovietSeen {
				pt.rest = true
				p.warnf("second selsoviet %q kept in rest", p.raw(pt))
				continue
			}
			selsovietSeen = true
			a.Selsoviet = p.text(pt)
		case roleSettlement:
			if settlement == nil {
				settlement = pt
			} else {
				pt.rest = true
				p.warnf("second settlement %q kept in rest", p.raw(pt))
			}
		case roleStreet:
			if street == nil {
				street = pt
			} else {
				pt.rest = true
				p.warnf("second street %q kept in rest", p.raw(pt))
			}
		case roleHouse:
			if house == nil {
				house = pt
			} else {
				pt.rest = true
				p.warnf("second house number %q kept in rest", p.raw(pt))
			}
		case roleBuilding:
			if building == nil {
				building = pt
			} else {
				pt.rest = true
				p.warnf("second building %q kept in rest", p.raw(pt))
			}
		case roleUnit:
			units = append(units, pt)
		case roleWords:
			words = append(words, pt)
		case roleNumber:
			numbers = append(numbers, pt)
		case roleNote:
			pt.rest = true
		case roleRestante:
			a.PosteRestante = true
		}
	}

	// Words without a type: organization names and labels, the settlement
	// when none was typed, a street written without its type.
	var candidates []*part
	var orgComps []int // components holding an organization's name
	for _, w := range words {
		switch {
		case w.quoted || p.hasLegalForm(w):
			w.rest = true
			orgComps = append(orgComps, w.comp)
		case p.allLabels(w):
			w.role = roleNone
		default:
			candidates = append(candidates, w)
		}
	}
	typedSettlement := settlement != nil
	if settlement == nil {
		// A lone word is not an address; an untyped name is a settlement
		// only next to something else that locates it.
		context := a.Postcode != "" || regionName != "" || districtSeen || selsovietSeen ||
			street != nil || house != nil || len(numbers) > 0
		settlement = p.pickSettlement(candidates, street != nil, context)
	}
	if street == nil {
		street = p.pickStreet(candidates, settlement)
		if street != nil {
			street.kind = uint8(streetStreet)
			p.warnf("street type not written; assumed %s", streetNames[streetStreet][p.lang])
		}
	}
	for _, c := range candidates {
		if c != settlement && c != street {
			c.rest = true
			p.warnf("unrecognized %q kept in rest", p.raw(c))
		}
	}

	// Numbers without a type: the house, then the flat.
	var hn houseNum
	setHouse := func(pt *part) {
		house = pt
		hn = parseHouse(p.numberText(pt), p.latin)
		if hn.odd {
			p.warnf("unusual house number %q", hn.house)
		}
		if hn.wideRange {
			p.warnf("%q read as a range of house numbers; if it is a house and a flat, write %s", p.raw(pt), unitNames[unitFlat][p.lang])
		}
		if hn.flat != "" {
			p.warnf("house and flat written together as %q; read as house %s, %s %s",
				p.raw(pt), hn.house, unitNames[unitFlat][p.lang], hn.flat)
		}
	}
	if house != nil {
		setHouse(house)
	}
	var restNums []string
	for _, nm := range numbers {
		t := &p.toks[nm.num]
		switch {
		case slices.Contains(orgComps, nm.comp):
			nm.rest = true // "Хлебозавод №2"
		case digitsOnly(p.txt(t)) && t.end-t.start >= 5:
			nm.rest = true
			p.warnf("number %s is not a postcode (a postcode has 6 digits)", p.txt(t))
		case house == nil:
			setHouse(nm)
		case len(units) == 0 && hn.flat == "":
			nm.kind = uint8(unitFlat)
			units = append(units, nm)
			p.warnf("number %s after the house read as %s %s", p.raw(nm), unitNames[unitFlat][p.lang], p.unitNumber(nm))
		default:
			nm.rest = true
			restNums = append(restNums, p.raw(nm))
		}
	}
	if len(restNums) > 0 {
		p.warnf("numbers after the house and unit kept in rest: %s", strings.Join(restNums, ", "))
	}

	// Fill the fields.
	if settlement != nil {
		a.Settlement = p.text(settlement)
		kind := settlementKind(settlement.kind)
		if settlement.role != roleSettlement || kind == settlementNone {
			if _, known := regionOfCity(a.Settlement); known {
				kind = settlementCity
			} else if !typedSettlement {
				p.warnf("settlement type not written")
			}
		}
		if kind != settlementNone {
			a.SettlementType = settlementNames[kind][p.lang]
		}
	}
	if street != nil {
		a.Street = p.text(street)
		a.StreetType = streetNames[street.kind][p.lang]
	}
	if house != nil {
		a.House = hn.house
		a.Building = hn.building
		if hn.flat != "" {
			a.Unit = unitNames[unitFlat][p.lang] + " " + hn.flat
		}
	}
	if building != nil {
		if a.Building != "" {
			building.rest = true
			p.warnf("second building %q kept in rest", p.raw(building))
		} else {
			a.Building = p.unitNumber(building)
		}
	}
	for _, u := range units {
		s := unitNames[u.kind][p.lang] + " " + p.unitNumber(u)
		if a.Unit == "" {
			a.Unit = s
		} else {
			a.Unit += ", " + s
		}
	}
	a.Rest = p.restText()
	p.region(&a, writtenRegion, regionName)
	a.Warnings = append(a.Warnings, p.warn...)
	return a, p.validate(&a)
}

// pickSettlement chooses among untyped word groups the one naming the
// settlement: a known city first, else the first group that is not
// immediately followed by a number (that one is a street: "Ленина 5").
func (p *parser) pickSettlement(candidates []*part, typedStreet, context bool) *part {
	for _, c := range candidates {
		if _, ok := regionOfCity(p.text(c)); ok {
			return c
		}
	}
	// "Калинковичи Советская 7": a known city at the start of a group of
	// words written without commas; the words after it stay candidates.
	for _, c := range candidates {
		// City names have at most three words (Давид-Городок is one).
		for k := c.a + 1; k < c.b && k <= c.a+3; k++ {
			head := newPart(roleWords, c.comp, c.a, k)
			if _, ok := regionOfCity(p.text(&head)); ok {
				c.a, c.from = k, k
				return &head
			}
		}
	}
	if !context {
		return nil
	}
	for _, c := range candidates {
		if !c.followedByNum {
			return c
		}
	}
	if len(candidates) == 1 && !typedStreet {
		return candidates[0]
	}
	return nil
}

// pickStreet chooses the untyped word group that names the street: the one
// followed by the house number, in its own component or the next one.
func (p *parser) pickStreet(candidates []*part, settlement *part) *part {
	for _, c := range candidates {
		if c == settlement {
			continue
		}
		if c.followedByNum {
			return c
		}
		for k := range p.parts {
			q := &p.parts[k]
			if q.comp == c.comp+1 {
				if q.role == roleNumber || q.role == roleHouse {
					return c
				}
				break
			}
		}
	}
	return nil
}

func (p *parser) hasLegalForm(w *part) bool {
	for k := w.a; k < w.b; k++ {
		if t := p.word(k); t != nil && isLegalForm(p.low(t)) {
			return true
		}
	}
	return false
}

func (p *parser) allLabels(w *part) bool {
	for k := w.a; k < w.b; k++ {
		t := &p.toks[k]
		if t.kind != tokWord || !isLabel(p.low(t)) {
			return false
		}
	}
	return true
}

// numberText is the number of a part as written, without spaces, with its
// detached letter.
func (p *parser) numberText(pt *part) string {
	s := strings.ReplaceAll(p.txt(&p.toks[pt.num]), " ", "")
	if pt.suf >= 0 {
		s += p.txt(&p.toks[pt.suf])
	}
	return s
}

// unitNumber normalizes a flat, room or building number: letters upper-case,
// Latin look-alikes as Cyrillic in a Cyrillic address.
func (p *parser) unitNumber(pt *part) string {
	return normNumber(p.numberText(pt), p.latin)
}

// restText joins, in input order, the parts that were not understood or are
// not part of the delivery point (organization names, remarks). Adjacent
// parts of one component are quoted as one phrase ("ОАО Хлебозавод №2").
func (p *parser) restText() string {
	var b strings.Builder
	for i := 0; i < len(p.parts); i++ {
		pt := &p.parts[i]
		if !pt.rest {
			continue
		}
		from, to := pt.from, pt.to
		for i+1 < len(p.parts) && p.parts[i+1].rest && p.parts[i+1].comp == pt.comp {
			i++
			to = p.parts[i].to
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.span(from, to))
	}
	return b.String()
}

func (p *parser) warnf(format string, args ...any) {
	p.warn = append(p.warn, fmt.Sprintf(format, args...))
}

// conflictf warns about something that leaves the delivery point unclear:
// sides of the address that disagree, or a part that locates nothing.
func (p *parser) conflictf(format string, args ...any) {
	p.warnf(format, args...)
	p.inexact = append(p.inexact, p.warn[len(p.warn)-1])
}

// region sets Address.Region from the postcode when there is one, else from
// the written region, a known city or a rural district, and reports every
// pair of these that disagree. Nothing is corrected: the postcode is kept as
// written and a conflict is a warning for a human to resolve.
func (p *parser) region(a *Address, written, writtenName string) {
	pc, pcOK := "", false
	if a.Postcode != "" {
		pc, pcOK = RegionOfPostcode(a.Postcode)
	}
	city, cityOK := "", false
	if a.Settlement != "" && (a.SettlementType == "" || a.SettlementType == settlementNames[settlementCity][p.lang]) {
		city, cityOK = regionOfCity(a.Settlement)
	}
	district, districtOK := "", false
	if a.District != "" && !cityOK {
		district, districtOK = regionOfDistrict(a.District)
	}
	switch {
	case pcOK:
		a.Region = pc
	case written != "":
		a.Region = written
	case cityOK:
		a.Region = city
	case districtOK:
		a.Region = district
	}
	if pcOK && written != "" && pc != written {
		p.conflictf("postcode %s is in %s but the region is written as %s (%s)", a.Postcode, pc, writtenName, written)
	}
	if cityOK && pcOK && city != pc {
		p.conflictf("postcode %s is in %s but %s is in %s", a.Postcode, pc, a.Settlement, city)
	}
	if a.Postcode != "" && !pcOK {
		switch {
		case cityOK:
			p.conflictf("postcode %s has no Belarusian region prefix and does not match %s (%s)", a.Postcode, a.Settlement, city)
		case written != "":
			p.conflictf("postcode %s has no Belarusian region prefix and does not match %s (%s)", a.Postcode, writtenName, written)
		default:
			p.conflictf("postcode %s has no Belarusian region prefix", a.Postcode)
		}
	}
	if cityOK && written != "" && city != written {
		p.conflictf("%s is in %s but the region is written as %s (%s)", a.Settlement, city, writtenName, written)
	}
	if districtOK {
		if pcOK && district != pc {
			p.conflictf("postcode %s is in %s but %s %s is in %s", a.Postcode, pc, a.District, districtNames[p.lang], district)
		} else if written != "" && district != written {
			p.conflictf("%s %s is in %s but the region is written as %s (%s)", a.District, districtNames[p.lang], district, writtenName, written)
		}
	}
}

// validate returns the error for an address that cannot be delivered and
// adds warnings for one that can be delivered only with help.
func (p *parser) validate(a *Address) error {
	switch {
	case len(p.toks) == 0:
		return fmt.Errorf("%w: empty address", ErrBadAddress)
	case a.Settlement == "" && a.Postcode == "":
		return fmt.Errorf("%w: no settlement and no postcode", ErrBadAddress)
	case a.Street != "" && a.House == "":
		return fmt.Errorf("%w: street address without a house number", ErrBadAddress)
	}
	city := a.SettlementType == settlementNames[settlementCity][p.lang]
	atPostOffice := hasPOBox(a.Unit) || a.PosteRestante
	var w string
	switch {
	case a.Settlement == "":
		a.Warnings = append(a.Warnings, "no settlement written; the postcode alone locates the address")
	case city && a.Street == "" && a.House == "" && !atPostOffice:
		w = "no street and no house number in a city"
	case city && a.Street == "" && a.House != "":
		w = "house number without a street in a city"
	}
	if w != "" {
		a.Warnings = append(a.Warnings, w)
		p.inexact = append(p.inexact, w)
	}
	return nil
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// houseNum is a parsed house number.
type houseNum struct {
	house    string // display form: 26А, 13/1, 48-54
	building string // from 24к2
	flat     string // from the house-flat shorthand 5-12
	odd      bool   // not understood; house holds it as written
	// wideRange marks a range like 16-42 that may be house 16, flat 42.
	wideRange bool
}

// parseHouse reads the house numbers Belarusians write:
//
//	8  26а  2 А  13/1  147/2  48/а (= 48А)  48-54 (a range of houses)
//	24к2 (house 24, корпус 2)  5-12 (house 5, flat 12)  48/а-66 (house 48А, flat 66)
//
// A dash between two numbers is a range when the second is greater and of
// the same parity (houses on one side of a street: 48-54), and otherwise the
// house-flat shorthand.
func parseHouse(s string, latin bool) houseNum {
	n1, rest := leadingDigits(s)
	if n1 == "" {
		return houseNum{house: normNumber(s, latin), odd: true}
	}
	var l1, frac, n3, l3, bldg string
	letters, rest := leadingLetters(rest)
	switch {
	case letters == "":
	case isBuildingWord(letters) && rest != "" && isDigit(rest[0]):
		var d string
		d, rest = leadingDigits(rest)
		if d == "" {
			return houseNum{house: normNumber(s, latin), odd: true}
		}
		lb, r2 := leadingLetters(rest)
		bldg, rest = d+lb, r2
	case utf8.RuneCountInString(letters) == 1:
		l1 = letters
	default:
		return houseNum{house: normNumber(s, latin), odd: true}
	}
	if strings.HasPrefix(rest, "/") {
		rest = rest[1:]
		d, r2 := leadingDigits(rest)
		lf, r3 := leadingLetters(r2)
		switch {
		case d != "" && utf8.RuneCountInString(lf) <= 1:
			frac, rest = d+lf, r3
		case d == "" && utf8.RuneCountInString(lf) == 1 && l1 == "":
			l1, rest = lf, r3
		default:
			return houseNum{house: normNumber(s, latin), odd: true}
		}
	}
	if strings.HasPrefix(rest, "-") {
		rest = rest[1:]
		d, r2 := leadingDigits(rest)
		ld, r3 := leadingLetters(r2)
		switch {
		case d != "" && utf8.RuneCountInString(ld) <= 1:
			n3, l3, rest = d, ld, r3
		case d == "" && utf8.RuneCountInString(ld) == 1 && l1 == "":
			l1, rest = ld, r3
		default:
			return houseNum{house: normNumber(s, latin), odd: true}
		}
	}
	if rest != "" {
		return houseNum{house: normNumber(s, latin), odd: true}
	}
	h := houseNum{building: normNumber(bldg, latin)}
	main := n1 + l1
	if frac != "" {
		main += "/" + frac
	}
	if n3 != "" {
		a, _ := strconv.Atoi(n1)
		b, _ := strconv.Atoi(n3)
		if l1 == "" && frac == "" && l3 == "" && bldg == "" && b > a && (b-a)%2 == 0 {
			// A range keeps the house apart from "house a, flat b": a wrong
			// range only fails to match, a wrong flat could match another
			// mailbox. A wide range is more likely a flat: say so.
			main += "-" + n3
			h.wideRange = b-a > 10
		} else {
			h.flat = normNumber(n3+l3, latin)
		}
	}
	h.house = normNumber(main, latin)
	return h
}

func isBuildingWord(s string) bool {
	switch strings.ToLower(s) {
	case "к", "корп", "k", "korp":
		return true
	}
	return false
}

func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func leadingLetters(s string) (letters, rest string) {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) {
			break
		}
		i += size
	}
	return s[:i], s[i:]
}

// normNumber upper-cases the letters of a house, building or flat number and,
// in a Cyrillic address, replaces Latin look-alikes by Cyrillic letters
// ("26a" typed with a Latin a is 26А).
func normNumber(s string, latin bool) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || (c >= 'a' && c <= 'z') || (!latin && c >= 'A' && c <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	for _, r := range s {
		if !latin && isLatinLetter(r) {
			r = lookalikeToCyrillic(unicode.ToUpper(r))
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
