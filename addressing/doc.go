// Package addressing understands Belarusian postal addresses as people
// write them, matches the recipient named on a letter against a mailbox
// holder, and issues and checks UPU S10 item identifiers. It imports the
// standard library only.
//
// # Parsing
//
// Parse accepts Russian, Belarusian and Latin-transliterated addresses in
// any order: postcode first, last, on its own line or missing; "Республика
// Беларусь", "Рэспубліка Беларусь", "РБ", "Republic of Belarus" anywhere;
// the English order "42 Lenina street, Glubokoye, 211800" as well as the
// Russian one. The input is first cleaned (spaces, dashes, zero-width and
// bidi characters, combining marks; Latin look-alike letters inside a
// Cyrillic word — "Ленiна" typed with a Latin i — become Cyrillic), then cut
// into tokens: words, numbers (8, 26а, 13/1, 48-54, 4-ый), separators
// (comma, semicolon, colon, line break), quotes and bracketed remarks.
// Missing spaces ("г.Минск", "Билецкого,10", "пом.102Б") need no special
// case: a full stop, a comma or a change from letters to digits ends a token.
//
// Each comma-separated component is read left to right. A type word (a
// "marker": г., аг., д., в., ул., вул., пр-т, пер., зав., р-н, обл., вобл.,
// с/с, корп., кв., пом., пам., оф., room, street, ...) either claims the
// words written before it — "Минский р-н", "Lenina street", "Партизанский
// пр-т 170" — or, when no name precedes it or a name follows it, the words
// after it: "ул. Ленина", "р-н Минский". Region, district and selsoviet
// types prefer the words before them; street and settlement types the words
// after them. A street name may contain initials right after its type
// ("ул. К. Маркса": an upper-case letter with a full stop followed by a
// word is an initial, not г./д./к.), a leading number followed by words
// ("ул. 50 лет БССР", "ул. 8 Марта") and ordinals ("4-ый пер. Мечникова" =
// "пер. Мечникова 4-ый"). When a settlement name written without a comma
// swallows the name of a street typed after it ("г. Минск Партизанский
// пр-т"), its last word is given back to the street.
//
// "д." is the one ambiguous marker: before a number it is a house ("д. 7",
// "д. 147/2"), before a word a village ("д. Колядичи"). The same rule reads
// к./корп. (a building only before a number; "К. Маркса" is an initial) and
// кв./оф./пом. (before a word, "Офис продаж" is part of a name).
//
// Numbers without a type word are the house, then the flat (with a
// warning); six digits standing alone are the postcode. House numbers keep
// their form: 13/1, 147/2, 26А (a letter written apart, "2 А", or after a
// slash, "48/а", is the same letter suffix), 48-54 (a range: the second
// number is greater and of the same parity, as for houses on one side of a
// street). Any other dash is the house-flat shorthand: "5-12" is house 5,
// flat 12, with a warning. When both readings are possible the range wins,
// because a wrong range only fails to match while a wrong flat could match
// somebody else's mailbox; a wide range (16-42) also gets a warning. "24к2"
// is house 24, building 2. A post office box (а/я, а/с, P.O. Box) is a
// unit of its own and needs no street; entrance and floor (подъезд, этаж)
// go to Rest.
//
// Words without a type are resolved once the whole address is read. Words
// in quotes or with a legal form (ООО, ОАО, УП) are an organization and go
// to Rest, as do bracketed remarks ("(с/м Гиппо)") and leftovers (those
// with a warning). If no settlement was typed, a known city is the settlement
// (also at the start of a group: "Калинковичи Советская 7"), else the first
// group not immediately followed by a number, provided something else
// locates the address (a lone word is not an address). A group followed by
// the house number is a street without its type; ул. is assumed, with a
// warning.
//
// # Regions and validation
//
// The region is an ISO 3166-2:BY code: from the postcode when there is one
// (RegionOfPostcode: 220 Minsk city, 222–223 Minsk region, 224–225 Brest,
// 210–211 Vitebsk, 212–213 Mogilev, 230–231 Grodno, 246–247 Gomel), else
// from the written region, a known city, or a rural district (all 118
// districts are known, in Russian and Belarusian). Every pair of these that
// disagrees — "274028, г. Брест" (no Belarusian prefix), "220013, г. Гомель",
// "Минская обл., г. Минск" — produces a warning naming both sides; nothing is
// silently corrected, and the postcode is kept as written. A district is
// used only outside known cities, because cities have districts of their
// own (Октябрьский р-н of Minsk).
//
// An address is an error (wrapping ErrBadAddress) only when it cannot be
// delivered: it is empty, it has neither a settlement nor a postcode, or it
// names a street without a house number. A village without street and house
// is deliverable: rural postmen deliver by name.
//
// # Match key
//
// MatchKey identifies a delivery point independently of spelling:
//
//	region | settlement | street type code | street | house[/building] | unit numbers
//
// Names are reduced to a lossy ASCII skeleton shared by Russian, Belarusian
// and Latin spellings (see fold.go): case, ё/е/э, і/и/ы/й, ў/в, soft signs
// and apostrophes are folded, and so are the regular differences between
// the languages — akanie (о→а: Савецкая/Советская), yakanie (Зялёная/
// Зелёная), dzekanie and tsekanie (Дзяржынскага/Дзержинского, Віцебск/
// Витебск) — and transliteration digraphs (Pervomayskaya = Первомайская).
// Frequent street names that are different words in Belarusian
// (Першамайская, Незалежнасці, Кастрычніцкая) are mapped to the Russian
// word; known cities to their Russian name. Street types become a code
// (ул./вул./str. → ul), initials and "им." are dropped, ordinals reduced to
// their number. Building numbers are appended to the house with a slash,
// because Belarusians write корпус as a fraction: "24/2" and "д. 24, корп. 2"
// are one house. Unit types are left out ("room 102B" = "пом. 102Б"): a flat
// and an office with one number in one house are told apart by the holder's
// name, which routing also requires. A post office box is marked as such
// and carries its postcode, because box numbers restart at every post
// office. House, building and unit numbers are otherwise kept exactly, so a
// different house, building or flat always gives a different key.
//
// Poste restante ("до востребования", "да запатрабавання", "Poste
// restante", "General delivery") is recognised as a field of its own: the
// post office of the postcode holds the item, so its key is
// "region|settlement||||restante@postcode" whatever street is written, and
// never equals the key of a flat.
//
// The key deliberately omits the postcode, the district and the
// selsoviet, which people often leave out; SameDeliveryPoint (and
// SameLocality alone) compares them as well when both addresses carry them.
//
// # Strict parsing
//
// ParseStrict is for addresses that something is proven about — a
// mailbox's, proven by a letter sent there. It refuses what Parse keeps
// in Rest, sides that disagree, a missing postcode, a city without a
// street and house, and poste restante or a box mixed with a street
// address, so that DeliveryPoint().Lines() — the envelope — names exactly
// the delivery point of the key. The key is computed from the exported fields only,
// so it can be recomputed from a stored Address and never goes stale.
//
// # Names and identifiers
//
// MatchPersonName matches a person's name as written on letters (dative,
// initials, capitals, either order, Belarusian or Latin letters) against
// the holder's full name; MatchOrgName and MatchOrg match organizations by
// name without legal form and quotes, or by UNP (NormalizeUNP checks its
// check digit). S10, CheckS10 and ParseS10 implement UPU S10 item
// identifiers; SerialAllocator is implemented by the store, which
// guarantees that a serial is never reused.
package addressing
