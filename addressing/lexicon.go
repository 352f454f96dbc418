package addressing

// This file holds the vocabulary of Belarusian addresses: the type words
// ("markers") people write before or after names and numbers, in Russian,
// Belarusian and Latin transliteration, and the canonical abbreviations the
// package prints for each language.

// lang is the language an address is written in; it decides which canonical
// abbreviations are printed (ул. or вул., кв. or apt.).
type lang uint8

const (
	langRU lang = iota
	langBE
	langEN
)

func (l lang) String() string {
	switch l {
	case langBE:
		return "be"
	case langEN:
		return "en"
	}
	return "ru"
}

func parseLang(s string) lang {
	switch s {
	case "be":
		return langBE
	case "en":
		return langEN
	}
	return langRU
}

type settlementKind uint8

const (
	settlementNone settlementKind = iota
	settlementCity
	settlementUrban      // городской посёлок / гарадскі пасёлак
	settlementAgrotown   // агрогородок / аграгарадок
	settlementVillage    // деревня / вёска
	settlementSettlement // посёлок / пасёлак
	settlementWorkers    // рабочий посёлок
	settlementResort     // курортный посёлок
	settlementKhutor     // хутор / хутар
)

var settlementNames = [...][3]string{
	settlementCity:       {"г.", "г.", "city"},
	settlementUrban:      {"г.п.", "г.п.", "urban settlement"},
	settlementAgrotown:   {"аг.", "аг.", "agrotown"},
	settlementVillage:    {"д.", "в.", "village"},
	settlementSettlement: {"п.", "п.", "settlement"},
	settlementWorkers:    {"р.п.", "р.п.", "workers settlement"},
	settlementResort:     {"к.п.", "к.п.", "resort settlement"},
	settlementKhutor:     {"х.", "х.", "khutor"},
}

type streetKind uint8

const (
	streetNone streetKind = iota
	streetStreet
	streetAvenue
	streetLane
	streetSquare
	streetBoulevard
	streetTract
	streetHighway
	streetShlyakh
	streetMicrodistrict
	streetEmbankment
	streetPassage
	streetDeadEnd
	streetQuarter
	streetAlley
)

// streetNames holds the canonical abbreviation per language and the code the
// match key uses. Every abbreviation is also a marker (see lookupMarker), so
// that a key can be recomputed from the printed fields.
var streetNames = [...][4]string{
	streetStreet:        {"ул.", "вул.", "str.", "ul"},
	streetAvenue:        {"пр-т", "пр-т", "ave.", "pr"},
	streetLane:          {"пер.", "зав.", "lane", "per"},
	streetSquare:        {"пл.", "пл.", "sq.", "pl"},
	streetBoulevard:     {"б-р", "б-р", "blvd", "bul"},
	streetTract:         {"тракт", "тракт", "tract", "trakt"},
	streetHighway:       {"ш.", "ш.", "hwy", "sh"},
	streetShlyakh:       {"шлях", "шлях", "shlyakh", "shl"},
	streetMicrodistrict: {"мкр.", "мкр.", "mkr.", "mkr"},
	streetEmbankment:    {"наб.", "наб.", "emb.", "nab"},
	streetPassage:       {"пр-д", "пр-д", "pass.", "prd"},
	streetDeadEnd:       {"туп.", "туп.", "tupik", "tup"},
	streetQuarter:       {"кв-л", "кв-л", "kvartal", "kvl"},
	streetAlley:         {"аллея", "алея", "alley", "al"},
}

type unitKind uint8

const (
	unitNone unitKind = iota
	unitFlat
	unitRoom
	unitPremises
	unitOffice
	unitCabinet
	unitPOBox // абонентский ящик: a box at the post office of the postcode
)

var unitNames = [...][3]string{
	unitFlat:     {"кв.", "кв.", "apt."},
	unitRoom:     {"комн.", "пак.", "room"},
	unitPremises: {"пом.", "пам.", "prem."},
	unitOffice:   {"оф.", "оф.", "office"},
	unitCabinet:  {"каб.", "каб.", "cab."},
	unitPOBox:    {"а/я", "а/с", "P.O. Box"},
}

// posteRestanteNames are the canonical spellings of poste restante; each
// is also a marker, so a printed address parses back to the same key.
var posteRestanteNames = [3]string{"до востребования", "да запатрабавання", "Poste restante"}

var (
	buildingNames  = [3]string{"корп.", "корп.", "bldg"}
	houseNames     = [3]string{"д.", "д.", ""}
	districtNames  = [3]string{"р-н", "р-н", "District"}
	selsovietNames = [3]string{"с/с", "с/с", "Selsoviet"}
)

type markerClass uint8

const (
	markNone markerClass = iota
	markCountry
	markCountryFiller // Республика, Republic, of: only before a country word
	markRegion
	markDistrict
	markSelsoviet
	markSettlement
	markStreet
	markHouse
	markBuilding
	markUnit
	// markExtra types a number that helps the postman but is not part of the
	// delivery point: entrance, floor. The phrase goes to Rest.
	markExtra
	// markPosteRestante is "до востребования": the item is held at the post
	// office of the postcode for collection (UPU Convention, art. 21 and
	// its Regulations on poste restante items), whatever street is written.
	markPosteRestante
)

// langHint says which language a marker word belongs to, for choosing the
// canonical abbreviations of the result.
type langHint uint8

const (
	hintNone langHint = iota
	hintRU
	hintBE
	hintEN
)

type marker struct {
	class markerClass
	kind  uint8 // settlementKind, streetKind or unitKind
	hint  langHint
	// house marks д./d.: a village before a name, a house before a number.
	house bool
}

func sm(k settlementKind, h langHint) marker {
	return marker{class: markSettlement, kind: uint8(k), hint: h}
}
func st(k streetKind, h langHint) marker { return marker{class: markStreet, kind: uint8(k), hint: h} }
func um(k unitKind, h langHint) marker   { return marker{class: markUnit, kind: uint8(k), hint: h} }

// lookupMarker classifies one lower-cased word (ё folded to е, a trailing full
// stop removed). A switch, unlike a map, is immutable and compiles to a
// binary search.
func lookupMarker(w string) marker {
	switch w {
	// Country.
	case "беларусь", "беларуси", "белоруссия", "рб", "belarus", "byelorussia", "rb", "blr":
		return marker{class: markCountry}
	case "республика", "республики", "рэспубліка", "рэспублікі":
		return marker{class: markCountryFiller, hint: hintOf(w)}
	case "republic", "of":
		return marker{class: markCountryFiller, hint: hintEN}

	// Region, district, selsoviet.
	case "обл", "область", "области", "облась":
		return marker{class: markRegion, hint: hintRU}
	case "вобл", "вобласць", "вобласці":
		return marker{class: markRegion, hint: hintBE}
	case "oblast", "obl", "region", "voblast", "voblasts", "vobl", "voblasc", "voblasć":
		return marker{class: markRegion, hint: hintEN}
	case "р-н", "р-он", "р-на":
		return marker{class: markDistrict}
	case "район", "района":
		return marker{class: markDistrict, hint: hintRU}
	case "раен", "раена":
		return marker{class: markDistrict, hint: hintBE}
	case "raion", "rayon", "district", "r-n":
		return marker{class: markDistrict, hint: hintEN}
	case "с/с", "c/c", "сельсовет", "с/сов":
		return marker{class: markSelsoviet, hint: hintOf(w)}
	case "сельсавет":
		return marker{class: markSelsoviet, hint: hintBE}
	case "s/s", "selsoviet", "sielsaviet", "selsovet", "village council":
		return marker{class: markSelsoviet, hint: hintEN}

	// Settlements.
	case "г", "г/п":
		if w == "г/п" {
			return sm(settlementUrban, hintNone)
		}
		return sm(settlementCity, hintNone)
	case "город", "гор":
		return sm(settlementCity, hintRU)
	case "горад", "гар":
		return sm(settlementCity, hintBE)
	case "g", "gorod", "horad", "city", "town":
		return sm(settlementCity, hintEN)
	case "гп", "пгт":
		return sm(settlementUrban, hintNone)
	case "gp", "g/p", "pgt":
		return sm(settlementUrban, hintEN)
	case "аг", "а/г", "агр":
		return sm(settlementAgrotown, hintNone)
	case "агрогородок", "агрогор":
		return sm(settlementAgrotown, hintRU)
	case "аграгарадок":
		return sm(settlementAgrotown, hintBE)
	case "ag", "a/g", "agrogorodok", "agrotown", "agro-town", "agrahoradok":
		return sm(settlementAgrotown, hintEN)
	case "д":
		m := sm(settlementVillage, hintNone)
		m.house = true
		return m
	case "d":
		m := sm(settlementVillage, hintEN)
		m.house = true
		return m
	case "дер", "деревня", "дерев":
		return sm(settlementVillage, hintRU)
	case "в", "веска", "вес":
		return sm(settlementVillage, hintBE)
	case "v", "vil", "village", "der", "derevnya", "derevnia", "vioska", "vyoska", "veska":
		return sm(settlementVillage, hintEN)
	case "п":
		return sm(settlementSettlement, hintNone)
	case "пос", "поселок":
		return sm(settlementSettlement, hintRU)
	case "пас", "паселак":
		return sm(settlementSettlement, hintBE)
	case "p", "pos", "poselok", "posyolok", "settlement", "pasyolak", "paselak":
		return sm(settlementSettlement, hintEN)
	case "рп":
		return sm(settlementWorkers, hintRU)
	case "кп":
		return sm(settlementResort, hintNone)
	case "х", "хутор":
		return sm(settlementKhutor, hintRU)
	case "хутар":
		return sm(settlementKhutor, hintBE)
	case "khutor":
		return sm(settlementKhutor, hintEN)

	// Streets.
	case "ул", "улица":
		return st(streetStreet, hintRU)
	case "вул", "вуліца", "вулица":
		return st(streetStreet, hintBE)
	case "ul", "ulitsa", "ulica", "vul", "vulitsa", "vulica", "street", "str", "st":
		return st(streetStreet, hintEN)
	case "пр-т", "пр", "пр-кт":
		return st(streetAvenue, hintNone)
	case "просп", "проспект":
		return st(streetAvenue, hintRU)
	case "праспект", "прасп":
		return st(streetAvenue, hintBE)
	case "prospekt", "prospect", "pr", "pr-t", "prosp", "avenue", "ave", "av", "praspekt":
		return st(streetAvenue, hintEN)
	case "пер", "переулок", "пер-к":
		return st(streetLane, hintRU)
	case "зав", "завулак":
		return st(streetLane, hintBE)
	case "per", "pereulok", "zav", "zavulak", "lane", "ln":
		return st(streetLane, hintEN)
	case "пл", "площадь", "плошча":
		if w == "площадь" {
			return st(streetSquare, hintRU)
		}
		if w == "плошча" {
			return st(streetSquare, hintBE)
		}
		return st(streetSquare, hintNone)
	case "pl", "ploshchad", "ploshcha", "square", "sq":
		return st(streetSquare, hintEN)
	case "б-р", "бул", "бульв", "бульвар":
		return st(streetBoulevard, hintNone)
	case "b-r", "bulvar", "boulevard", "blvd":
		return st(streetBoulevard, hintEN)
	case "тракт":
		return st(streetTract, hintNone)
	case "trakt", "tract":
		return st(streetTract, hintEN)
	case "ш", "шоссе":
		return st(streetHighway, hintRU)
	case "шаша":
		return st(streetHighway, hintBE)
	case "shosse", "highway", "hwy", "shasha":
		return st(streetHighway, hintEN)
	case "шлях":
		return st(streetShlyakh, hintNone)
	case "shlyakh", "shliakh":
		return st(streetShlyakh, hintEN)
	case "мкр", "мкрн", "микрорайон", "м-н":
		return st(streetMicrodistrict, hintRU)
	case "мікрараен", "мкр-н":
		return st(streetMicrodistrict, hintBE)
	case "mkr", "mikrorayon", "mikroraion", "microdistrict", "mkrn":
		return st(streetMicrodistrict, hintEN)
	case "наб", "набережная":
		return st(streetEmbankment, hintRU)
	case "набярэжная":
		return st(streetEmbankment, hintBE)
	case "nab", "naberezhnaya", "embankment", "emb":
		return st(streetEmbankment, hintEN)
	case "пр-д", "проезд":
		return st(streetPassage, hintRU)
	case "праезд":
		return st(streetPassage, hintBE)
	case "pr-d", "proezd", "passage", "pass":
		return st(streetPassage, hintEN)
	case "туп", "тупик":
		return st(streetDeadEnd, hintRU)
	case "тупік":
		return st(streetDeadEnd, hintBE)
	case "tup", "tupik":
		return st(streetDeadEnd, hintEN)
	case "кв-л", "квартал":
		return st(streetQuarter, hintNone)
	case "kv-l", "kvartal":
		return st(streetQuarter, hintEN)
	case "аллея":
		return st(streetAlley, hintRU)
	case "алея":
		return st(streetAlley, hintBE)
	case "alley", "alleya":
		return st(streetAlley, hintEN)

	// House, building, unit.
	case "дом":
		return marker{class: markHouse}
	case "house", "h", "dom":
		return marker{class: markHouse, hint: hintEN}
	case "к", "корп", "корпус", "кор":
		return marker{class: markBuilding}
	case "k", "korp", "korpus", "bldg", "building", "block", "bl":
		return marker{class: markBuilding, hint: hintEN}
	case "кв", "квартира":
		if w == "квартира" {
			return um(unitFlat, hintRU)
		}
		return um(unitFlat, hintNone)
	case "кватэра":
		return um(unitFlat, hintBE)
	case "kv", "kvartira", "apt", "apartment", "flat", "app":
		return um(unitFlat, hintEN)
	case "комн", "комната", "ком":
		return um(unitRoom, hintRU)
	case "пакой", "пак":
		return um(unitRoom, hintBE)
	case "room", "rm", "komn", "komnata":
		return um(unitRoom, hintEN)
	case "пом", "помещение", "помещ":
		return um(unitPremises, hintRU)
	case "пам", "памяшканне":
		return um(unitPremises, hintBE)
	case "pom", "pam", "premises", "prem", "pomeshchenie":
		return um(unitPremises, hintEN)
	case "оф", "офис":
		return um(unitOffice, hintRU)
	case "офіс":
		return um(unitOffice, hintBE)
	case "off", "office", "ofis":
		// "of" is the filler of "Republic of Belarus"; the parser reads it
		// as an office only before a number.
		return um(unitOffice, hintEN)
	case "каб", "кабинет":
		return um(unitCabinet, hintRU)
	case "кабінет":
		return um(unitCabinet, hintBE)
	case "kab", "cab", "cabinet":
		return um(unitCabinet, hintEN)
	case "а/я", "аб/я":
		return um(unitPOBox, hintRU)
	case "а/с":
		return um(unitPOBox, hintBE)
	case "box", "pob":
		return um(unitPOBox, hintEN)
	case "подъезд", "под", "п-д", "этаж", "эт", "пад'езд", "пад’езд", "паверх", "entrance", "floor", "fl":
		return marker{class: markExtra}
	}
	return marker{}
}

// lookupMarker2 classifies two consecutive words written as one type
// ("г. п.", "сельский совет", "городской посёлок").
func lookupMarker2(w1, w2 string) marker {
	switch w1 {
	case "г":
		if w2 == "п" {
			return sm(settlementUrban, hintNone)
		}
	case "р":
		if w2 == "п" {
			return sm(settlementWorkers, hintRU)
		}
	case "к":
		if w2 == "п" {
			return sm(settlementResort, hintNone)
		}
	case "городской":
		if w2 == "поселок" || w2 == "пос" || w2 == "п" {
			return sm(settlementUrban, hintRU)
		}
	case "гарадскі", "гар":
		if w2 == "паселак" || w2 == "пас" || w2 == "п" {
			return sm(settlementUrban, hintBE)
		}
	case "рабочий":
		if w2 == "поселок" || w2 == "пос" {
			return sm(settlementWorkers, hintRU)
		}
	case "курортный":
		if w2 == "поселок" || w2 == "пос" {
			return sm(settlementResort, hintRU)
		}
	case "сельский":
		if w2 == "совет" {
			return marker{class: markSelsoviet, hint: hintRU}
		}
	case "сельскі":
		if w2 == "савет" {
			return marker{class: markSelsoviet, hint: hintBE}
		}
	case "urban":
		if w2 == "settlement" || w2 == "village" {
			return sm(settlementUrban, hintEN)
		}
	case "workers":
		if w2 == "settlement" {
			return sm(settlementWorkers, hintEN)
		}
	case "resort":
		if w2 == "settlement" {
			return sm(settlementResort, hintEN)
		}
	case "village", "rural":
		if w2 == "council" {
			return marker{class: markSelsoviet, hint: hintEN}
		}
	case "абонентский", "аб":
		if w2 == "ящик" || w2 == "я" {
			return um(unitPOBox, hintRU)
		}
	case "абаненцкая":
		if w2 == "скрыня" {
			return um(unitPOBox, hintBE)
		}
	case "po", "p":
		if w2 == "box" {
			return um(unitPOBox, hintEN)
		}
	case "до":
		switch w2 {
		case "востребования", "востребов", "востреб", "востр":
			return marker{class: markPosteRestante, hint: hintRU}
		}
	case "да":
		switch w2 {
		case "запатрабавання", "запатраб":
			return marker{class: markPosteRestante, hint: hintBE}
		}
	case "poste":
		if w2 == "restante" {
			return marker{class: markPosteRestante, hint: hintEN}
		}
	case "general":
		if w2 == "delivery" {
			return marker{class: markPosteRestante, hint: hintEN}
		}
	case "do":
		switch w2 {
		case "vostrebovaniya", "vostrebovania", "vostrebovanija":
			return marker{class: markPosteRestante, hint: hintEN}
		}
	case "da":
		switch w2 {
		case "zapatrabavannia", "zapatrabavannya", "zapatrabavannja":
			return marker{class: markPosteRestante, hint: hintEN}
		}
	}
	return marker{}
}

// hintOf guesses the language of a Cyrillic marker that exists in both
// languages with different spellings.
func hintOf(w string) langHint {
	for _, r := range w {
		switch r {
		case 'і', 'ў':
			return hintBE
		}
	}
	return hintRU
}

// isHonorific reports words written before a recipient's name that are not
// part of it.
func isHonorific(w string) bool {
	switch w {
	case "гр", "гражданину", "гражданке", "г-ну", "г-же", "господину", "госпоже", "тов", "товарищу",
		"спадару", "спадарыні", "грамадзяніну", "грамадзянцы",
		"mr", "mrs", "ms", "miss", "dr", "mister":
		return true
	}
	return false
}

// isLabel reports words of a label that precedes an address ("Адрес:",
// "Юридический адрес:") and is not part of it.
func isLabel(w string) bool {
	switch w {
	case "адрес", "адрас", "address", "почтовый", "паштовы", "юридический", "юрыдычны", "юр",
		"фактический", "фактычны", "postal", "legal", "mailing", "для", "писем", "корреспонденции":
		return true
	}
	return false
}

// isNameFiller reports words that are dropped from a street name's key
// ("ул. им. Ленина" = "ул. Ленина").
func isNameFiller(w string) bool {
	switch w {
	case "им", "имени", "імя", "imeni", "im":
		return true
	}
	return false
}
