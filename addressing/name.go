package addressing

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// This file matches the recipient named on a letter against the holder of a
// mailbox. Routing delivers electronically only when the address matches AND
// the name matches, so a false match hands a letter to the wrong person: the
// rules below accept the ways people write one name and refuse anything that
// could be somebody else (another surname, conflicting initials, a missing
// given name).

// maxNameLen bounds names given to the matchers.
const maxNameLen = 512

// nameWord is one word of a person's name: its skeleton, or an initial.
type nameWord struct {
	key     string // skeleton (fold) of the word
	initial bool   // a single letter: И., I
	first   string // for initials and words: code of the first letter
}

// splitName splits a person's name into words and initials. "Иванов И.И.",
// "И.И.Иванов", "ИВАНОВ Иван" and "Иванов ИИ" (initials without full stops,
// written in capitals after a name in mixed case) are understood.
// Honorifics (гр., г-ну, Mr) are dropped.
func splitName(s string) []nameWord {
	if len(s) > maxNameLen {
		return nil
	}
	s = fixLookalikes(s)
	var words []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && r != '-' && !isApostrophe(r) && !unicode.Is(unicode.Mn, r)
	}) {
		f = strings.Trim(f, "-")
		if f != "" {
			words = append(words, f)
		}
	}
	mixedCase := false
	for _, w := range words {
		if w != strings.ToUpper(w) {
			mixedCase = true
			break
		}
	}
	var out []nameWord
	for i, w := range words {
		low := strings.ToLower(w)
		if i < len(words)-1 && isHonorific(low) {
			continue
		}
		n := utf8.RuneCountInString(w)
		switch {
		case n == 1:
			out = append(out, nameWord{key: fold(w), initial: true, first: letterCode(w)})
		case n == 2 && mixedCase && w == strings.ToUpper(w) && i > 0:
			// "Иванов ИИ".
			r, size := utf8.DecodeRuneInString(w)
			a, b := string(r), w[size:]
			out = append(out, nameWord{key: fold(a), initial: true, first: letterCode(a)},
				nameWord{key: fold(b), initial: true, first: letterCode(b)})
		default:
			out = append(out, nameWord{key: fold(w), first: letterCode(w)})
		}
	}
	return out
}

// letterCode is the sound the name starts with, as a short Latin code, for
// comparing initials across scripts without the vowel folds of the
// skeleton (А. and О. are different initials even though akanie makes
// Ольга's skeleton start with a).
func letterCode(w string) string {
	low := strings.ToLower(w)
	r, size := utf8.DecodeRuneInString(low)
	if isCyrillic(r) {
		switch r {
		case 'ё', 'э', 'є':
			return "е"
		case 'і', 'ы', 'ї':
			return "и"
		case 'ў':
			return "у"
		}
		return string(r)
	}
	// Latin: map the leading letters to the Cyrillic letter they spell.
	rest := low[size:]
	switch r {
	case 's':
		if strings.HasPrefix(rest, "hch") || strings.HasPrefix(rest, "ch") {
			return "щ"
		}
		if strings.HasPrefix(rest, "h") {
			return "ш"
		}
		return "с"
	case 'z':
		if strings.HasPrefix(rest, "h") {
			return "ж"
		}
		return "з"
	case 'k':
		if strings.HasPrefix(rest, "h") {
			return "х"
		}
		return "к"
	case 'c':
		if strings.HasPrefix(rest, "h") {
			return "ч"
		}
		return "ц"
	case 't':
		if strings.HasPrefix(rest, "s") {
			return "ц"
		}
		return "т"
	case 'y', 'j':
		switch {
		case strings.HasPrefix(rest, "a"):
			return "я"
		case strings.HasPrefix(rest, "u"):
			return "ю"
		case strings.HasPrefix(rest, "e"), strings.HasPrefix(rest, "o"):
			return "е"
		}
		return "и"
	case 'e':
		return "е"
	case 'i':
		return "и"
	case 'h', 'g':
		return "г"
	case 'č':
		return "ч"
	case 'š':
		return "ш"
	case 'ž':
		return "ж"
	}
	if c := latinToCyrillicLetter(r); c != 0 {
		return string(c)
	}
	return string(r)
}

func latinToCyrillicLetter(r rune) rune {
	const from, to = "abdflmnoprtuvw", "абдфлмнопртувв"
	if i := strings.IndexRune(from, r); i >= 0 {
		return []rune(to)[i]
	}
	return 0
}

// initialMatches reports whether an initial fits a full word or another
// initial. A Latin initial is compared on its first letter only (I. for
// Иван, but also S. for Шура is refused: S is not Ш).
func initialMatches(init, w nameWord) bool {
	return init.first == w.first
}

// dativeForms returns the skeletons a name word takes as the addressee of a
// letter: the nominative and the dative, for either gender, in Russian and
// Belarusian (which share the skeleton): Иванов → Иванову, Иванова →
// Ивановой/Івановай, Ковальский → Ковальскому, Ковальская → Ковальской,
// Анна → Анне, Мария → Марии, Сергей → Сергею, Павел → Павлу, Кравец →
// Кравцу, Иванович → Ивановичу, Ивановна → Ивановне. Indeclinable names
// (Шевченко, Черных, feminine Шевчук) keep their only form.
func dativeForms(k string) []string {
	forms := []string{k}
	if len(k) < 2 {
		return forms
	}
	last := k[len(k)-1]
	stem := k[:len(k)-1]
	switch {
	case strings.HasSuffix(k, "ae"): // -ая, -ская
		forms = append(forms, k[:len(k)-2]+"ai")
	case strings.HasSuffix(k, "ai"): // -ой (Толстой)
		forms = append(forms, k[:len(k)-2]+"amu")
	case last == 'a': // -а, -ова, -ина, -на
		forms = append(forms, stem+"e", stem+"ai", stem+"i")
	case last == 'e': // -я, -ия (the skeleton folds я to e)
		forms = append(forms, stem+"i")
	case last == 'i': // -ий, -ый, -ій, -й
		forms = append(forms, stem+"amu", stem+"emu", stem+"u")
	case isConsonant(last):
		forms = append(forms, k+"u")
		// Fleeting vowel: Павел → Павлу, Лев → Льву, Кравец → Кравцу, Казлёнак → Казлёнку.
		if len(k) >= 3 && (k[len(k)-2] == 'e' || k[len(k)-2] == 'a') && isConsonant(k[len(k)-3]) {
			forms = append(forms, k[:len(k)-2]+k[len(k)-1:]+"u")
		}
	}
	return forms
}

func isConsonant(c byte) bool {
	return c >= 'a' && c <= 'z' && !strings.ContainsRune("aeiou", rune(c))
}

// wordMatches reports whether a written word (or initial) can be the holder's
// word h in the nominative or dative. The parts of a hyphenated name decline
// separately (Петрову-Водкину).
func wordMatches(w, h nameWord) bool {
	if w.initial || h.initial {
		return initialMatches(w, h)
	}
	wp, hp := strings.Fields(w.key), strings.Fields(h.key)
	if len(wp) != len(hp) || len(hp) == 0 {
		return false
	}
	for i := range hp {
		if !slices.Contains(dativeForms(hp[i]), wp[i]) {
			return false
		}
	}
	return true
}

// MatchPersonName reports whether a person's name as written on a letter
// names the holder of a mailbox. holder is the holder's full name in the
// order of Belarusian documents: surname, given name, patronymic (the
// patronymic may be absent). written may be in the dative (Иванову Ивану
// Ивановичу), with initials (Иванов И.И., И.И. Иванов), in capitals
// (ИВАНОВ Иван), in Belarusian or Latin letters, with the given name first
// or last; case and ё/е do not matter.
//
// The surname must match and the given name must be present and match (a
// surname alone could be any member of a family). A written patronymic must
// match the holder's when the holder has one. Conflicting initials never
// match.
func MatchPersonName(written, holder string) bool {
	w, h := splitName(written), splitName(holder)
	if len(w) == 0 || len(h) == 0 || h[0].initial {
		return false
	}
	if len(h) == 1 {
		// A holder known by one name only: the letter must use that name only.
		return len(w) == 1 && !w[0].initial && wordMatches(w[0], h[0])
	}
	if len(w) < 2 || len(w) > 3 {
		return false
	}
	try := func(surname nameWord, rest []nameWord) bool {
		if surname.initial || !wordMatches(surname, h[0]) {
			return false
		}
		if !wordMatches(rest[0], h[1]) {
			return false
		}
		if len(rest) == 2 {
			if len(h) < 3 {
				// The holder has no patronymic on record: a written one
				// cannot be checked and does not conflict.
				return true
			}
			return wordMatches(rest[1], h[2])
		}
		return true
	}
	// Surname first (Иванов Иван Иванович, Иванов И.И.) or last
	// (Иван Иванович Иванов, И.И. Иванов).
	return try(w[0], w[1:]) || try(w[len(w)-1], w[:len(w)-1])
}

// legalForms are the organizational-legal forms of Belarusian (and common
// foreign) organizations, abbreviated and in full, in Russian, Belarusian
// and English. They are not part of an organization's name for matching.
var legalForms = sync.OnceValue(func() [][]string {
	phrases := [...]string{
		"общество с ограниченной ответственностью", "общество с дополнительной ответственностью",
		"иностранное общество с ограниченной ответственностью", "совместное общество с ограниченной ответственностью",
		"открытое акционерное общество", "закрытое акционерное общество", "акционерное общество",
		"публичное акционерное общество", "частное унитарное предприятие", "частное торговое унитарное предприятие",
		"частное производственное унитарное предприятие", "республиканское унитарное предприятие",
		"коммунальное унитарное предприятие", "производственное республиканское унитарное предприятие",
		"унитарное предприятие", "индивидуальный предприниматель", "государственное учреждение",
		"учреждение образования", "таварыства з абмежаванай адказнасцю", "адкрытае акцыянернае таварыства",
		"закрытае акцыянернае таварыства", "акцыянернае таварыства", "прыватнае унітарнае прадпрыемства",
		"унітарнае прадпрыемства", "індывідуальны прадпрымальнік", "дзяржаўная ўстанова",
		"limited liability company", "open joint stock company", "closed joint stock company",
		"joint stock company", "private unitary enterprise", "unitary enterprise", "private enterprise",
	}
	out := make([][]string, 0, len(phrases))
	for _, ph := range phrases {
		out = append(out, strings.Fields(fold(ph)))
	}
	return out
})

// isLegalForm reports an abbreviated legal form (lower-case word).
func isLegalForm(w string) bool {
	switch w {
	case "ооо", "оао", "зао", "ао", "пао", "одо", "уп", "чуп", "чтуп", "чпуп", "руп", "куп", "пруп", "гуп",
		"иуп", "ип", "гу", "уо", "гуо", "сооо", "иооо", "сзао", "изао", "оо", "таа", "аат", "зат", "пуп", "дуа",
		"llc", "ltd", "jsc", "ojsc", "cjsc", "pjsc", "ue", "pue", "inc", "gmbh", "ooo", "oao", "zao", "odo":
		return true
	}
	return false
}

// OrgNameKey returns the normalized name of an organization: legal forms
// (ООО, ОАО, УП, ЗАО, "Общество с ограниченной ответственностью", LLC ...),
// quotes and punctuation removed, words folded as by NameKey.
func OrgNameKey(name string) string {
	if len(name) > maxNameLen {
		return ""
	}
	name = fixLookalikes(name)
	var words []string
	for _, f := range strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && !isApostrophe(r) }) {
		if isLegalForm(strings.ToLower(strings.Trim(f, "-"))) {
			continue
		}
		if k := fold(f); k != "" {
			words = append(words, strings.Fields(k)...)
		}
	}
	for _, ph := range legalForms() {
		words = removePhrase(words, ph)
	}
	return strings.Join(words, " ")
}

func removePhrase(words, phrase []string) []string {
	for i := 0; i+len(phrase) <= len(words); i++ {
		match := true
		for j := range phrase {
			if words[i+j] != phrase[j] {
				match = false
				break
			}
		}
		if match {
			words = append(words[:i:i], words[i+len(phrase):]...)
			i--
		}
	}
	return words
}

// MatchOrgName reports whether an organization's name as written on a letter
// names the holder: equal after OrgNameKey, so «Автомат», "Автомат" and
// ОАО «Автомат» match but Автомат-2 does not.
func MatchOrgName(written, holder string) bool {
	w := OrgNameKey(written)
	return w != "" && w == OrgNameKey(holder)
}

// MatchOrg matches an organization by its UNP when both sides have a valid
// one (different UNPs never match, whatever the names say) and by name
// otherwise.
func MatchOrg(writtenName, writtenUNP, holderName, holderUNP string) bool {
	if writtenUNP != "" && holderUNP != "" {
		w, errW := NormalizeUNP(writtenUNP)
		h, errH := NormalizeUNP(holderUNP)
		if errW != nil || errH != nil {
			return false
		}
		return w == h
	}
	return MatchOrgName(writtenName, holderName)
}

// ErrBadUNP is wrapped by NormalizeUNP's errors.
var ErrBadUNP = errors.New("bad UNP")

// NormalizeUNP validates a Belarusian payer number (УНП, учётный номер
// плательщика) and returns it in canonical form: 9 characters, an optional
// "УНП"/"UNP" prefix and spaces removed, Cyrillic look-alike letters of an
// individual entrepreneur's number written as Latin. Organizations have 9
// digits, the first (1–7) the region; individuals two letters then 7 digits.
// The last digit is a check digit: the weighted sum (weights 29 23 19 17 13
// 7 5 3) of the first eight characters modulo 11, where a result of 10 makes
// the number invalid (the algorithm of the Ministry of Taxes, as implemented
// by python-stdnum's by.unp).
func NormalizeUNP(s string) (string, error) {
	c := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	c = strings.TrimPrefix(strings.TrimPrefix(c, "УНП"), "UNP")
	c = strings.TrimPrefix(c, ":")
	var b strings.Builder
	for _, r := range c {
		if isCyrillic(r) {
			r = cyrillicToLatinUNP(r)
		}
		b.WriteRune(r)
	}
	c = b.String()
	if len(c) != 9 {
		return "", fmt.Errorf("%w: %q: want 9 characters", ErrBadUNP, s)
	}
	const letters = "ABCEHKMOPT"
	for i := 2; i < 9; i++ {
		if !isDigit(c[i]) {
			return "", fmt.Errorf("%w: %q: characters 3-9 must be digits", ErrBadUNP, s)
		}
	}
	if !strings.ContainsRune("1234567ABCEHKM", rune(c[0])) {
		return "", fmt.Errorf("%w: %q: unknown first character", ErrBadUNP, s)
	}
	var v [8]int
	switch {
	case isDigit(c[0]) && isDigit(c[1]):
		v[0], v[1] = int(c[0]-'0'), int(c[1]-'0')
	case !isDigit(c[0]) && strings.IndexByte(letters, c[1]) >= 0:
		v[0] = int(c[0]-'A') + 10
		v[1] = strings.IndexByte(letters, c[1])
	default:
		return "", fmt.Errorf("%w: %q: malformed prefix", ErrBadUNP, s)
	}
	for i := 2; i < 8; i++ {
		v[i] = int(c[i] - '0')
	}
	weights := [8]int{29, 23, 19, 17, 13, 7, 5, 3}
	sum := 0
	for i, w := range weights {
		sum += v[i] * w
	}
	check := sum % 11
	if check == 10 || int(c[8]-'0') != check {
		return "", fmt.Errorf("%w: %q: wrong check digit", ErrBadUNP, s)
	}
	return c, nil
}

func cyrillicToLatinUNP(r rune) rune {
	const from, to = "АВЕКМНОРСТ", "ABEKMHOPCT"
	for i, f := range []rune(from) {
		if f == r {
			return rune(to[i])
		}
	}
	return r
}
