package addressing

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInexactAddress is wrapped by the errors of ParseStrict for an address
// that Parse accepts but that does not name exactly one delivery point:
// what a postman would act on differs from what the match key covers.
var ErrInexactAddress = errors.New("inexact address")

// ParseStrict parses the address of a mailbox. A mailbox proves its address
// by a letter sent there, and the proof is only worth what the letter's
// address has in common with the match key that later routes mail to the
// mailbox. So, beyond what Parse refuses, ParseStrict refuses, with every
// reason in the message:
//
//   - parts kept in Rest: unrecognised words, organization names, remarks,
//     entrance and floor. They would be printed but never matched — "кв. 9,
//     до востребования" once took the activation letter to the post office
//     while matching the letters for flat 9;
//   - sides that disagree (a postcode of another region, a city or district
//     of another region, a region that is not known), because the letter
//     would go where the postcode says while the key says otherwise;
//   - a city address without a street and house: it names no door;
//   - poste restante or a post office box together with a street address or
//     another unit: the item is held at the post office, the street is noise;
//   - a missing postcode: the letter cannot be posted, and boxes and poste
//     restante are per post office.
//
// The Address returned is the DeliveryPoint of the parse, also on error
// (for display). An error wraps ErrBadAddress when Parse fails, else
// ErrInexactAddress.
func ParseStrict(raw string) (Address, error) {
	a, p, err := parse(raw)
	if err != nil {
		return a.DeliveryPoint(), err
	}
	var why []string
	if a.Rest != "" {
		why = append(why, fmt.Sprintf("%q is not part of a delivery point", a.Rest))
	}
	why = append(why, p.inexact...)
	box := hasPOBox(a.Unit)
	street := a.Street != "" || a.House != "" || a.Building != ""
	switch {
	case a.PosteRestante && (street || a.Unit != ""):
		why = append(why, "poste restante is collected at the post office: write it without a street, house or unit")
	case box && (street || strings.Contains(a.Unit, ",")):
		why = append(why, "a post office box is at the post office: write it without a street, house or other unit")
	}
	if a.Postcode == "" {
		why = append(why, "no postcode")
	}
	if len(why) > 0 {
		return a.DeliveryPoint(), fmt.Errorf("%w: %s", ErrInexactAddress, strings.Join(why, "; "))
	}
	return a.DeliveryPoint(), nil
}

// DeliveryPoint returns the address without what is not part of its
// delivery point: Rest, and for poste restante the street, house and unit,
// since the post office holds the item. What remains is what the match key
// covers plus the postcode, district and selsoviet SameDeliveryPoint
// compares, so an envelope printed from its Lines reaches the point the key
// names and nothing else.
func (a Address) DeliveryPoint() Address {
	a.Rest = ""
	if a.PosteRestante {
		a.StreetType, a.Street, a.House, a.Building, a.Unit = "", "", "", "", ""
	}
	return a
}
