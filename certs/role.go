package certs

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Role is what a certificate holder may do in npes (DESIGN.md §3). It travels in
// the certificate as the URI SAN urn:npes:role:<role>; roles never cross.
type Role string

// The roles of DESIGN.md §3.
const (
	RolePerson      Role = "person"
	RoleOrg         Role = "org"
	RolePrintCenter Role = "printcenter"
	RoleOperator    Role = "operator"
)

// Roles returns every role, in a fixed order (for help texts and tests).
func Roles() []Role {
	return []Role{RolePerson, RoleOrg, RolePrintCenter, RoleOperator}
}

// ParseRole returns the role named s (exact, lower case).
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := profileOf(r); !ok {
		return "", fmt.Errorf("%w: unknown role %q (want person, org, printcenter or operator)", ErrBadRequest, s)
	}
	return r, nil
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	_, ok := profileOf(r)
	return ok
}

func (r Role) String() string { return string(r) }

// Lifetime returns the default and the maximum lifetime in days of a client
// certificate for r (see the package doc); both are zero for an unknown role.
func (r Role) Lifetime() (defaultDays, maxDays int) {
	p, _ := profileOf(r)
	return p.defaultDays, p.maxDays
}

// presence says whether a role profile requires, allows or refuses an attribute.
type presence int

const (
	forbidden presence = iota
	optional
	required
)

// profile is what a role's certificate carries and how long it lives.
type profile struct {
	personalID, unp, regions presence
	defaultDays, maxDays     int
}

// profileOf is the single table of role profiles; it is a switch, not a
// package-level map, so nothing can change it at run time.
func profileOf(r Role) (profile, bool) {
	switch r {
	case RolePerson:
		return profile{personalID: required, defaultDays: 90, maxDays: 397}, true
	case RoleOrg:
		return profile{unp: required, defaultDays: 90, maxDays: 397}, true
	case RolePrintCenter:
		// A print centre is run by a legal entity, which may name itself by UNP.
		return profile{regions: required, unp: optional, defaultDays: 90, maxDays: 397}, true
	case RoleOperator:
		// Operators act for the postal operator (counter verification, revocation);
		// their personal number, when present, names the employee in evidence.
		return profile{personalID: optional, defaultDays: 30, maxDays: 90}, true
	}
	return profile{}, false
}

// URI SAN scheme (RFC 5280 §4.2.1.6 uniformResourceIdentifier, URN syntax of
// RFC 8141). "npes" is an informal namespace: the URIs are only ever read by
// npes from certificates its configured CAs issued.
const (
	urnPrefix      = "urn:npes:"
	attrRole       = "role"
	attrPersonalID = "personal-id"
	attrUNP        = "unp"
	attrRegions    = "regions"
)

// Limits of the attribute syntax.
const (
	maxNameRunes     = 200
	personalIDLength = 14
	unpLength        = 9
	regionLength     = 3
)

// attributes are the identity attributes shared by a Request and an Identity;
// one validation serves both, so what the CA issues is exactly what the server
// accepts.
type attributes struct {
	role       Role
	name       string
	personalID string
	unp        string
	regions    []string
}

// validate checks a in a fixed order (role, name, then each attribute against
// the role profile) and returns the first failure wrapped in sentinel.
func (a attributes) validate(sentinel error) error {
	p, ok := profileOf(a.role)
	if !ok {
		if a.role == "" {
			return fmt.Errorf("%w: role is missing (want person, org, printcenter or operator)", sentinel)
		}
		return fmt.Errorf("%w: unknown role %q (want person, org, printcenter or operator)", sentinel, string(a.role))
	}
	if err := checkName(a.name); err != nil {
		return fmt.Errorf("%w: %s", sentinel, err)
	}
	checks := []struct {
		what, need string
		present    bool
		rule       presence
		check      func() error
	}{
		{"a personal number", "a personal number", a.personalID != "", p.personalID, func() error { return checkPersonalID(a.personalID) }},
		{"a UNP", "a UNP", a.unp != "", p.unp, func() error { return checkUNP(a.unp) }},
		{"regions", "at least one region", len(a.regions) > 0, p.regions, func() error { return checkRegions(a.regions) }},
	}
	for _, c := range checks {
		switch {
		case c.present && c.rule == forbidden:
			return fmt.Errorf("%w: role %s does not carry %s", sentinel, a.role, c.what)
		case !c.present && c.rule == required:
			return fmt.Errorf("%w: role %s requires %s", sentinel, a.role, c.need)
		case c.present:
			if err := c.check(); err != nil {
				return fmt.Errorf("%w: %s", sentinel, err)
			}
		}
	}
	return nil
}

// checkName refuses names that would mislead a reader of a certificate, a log
// or a receipt: control characters, Unicode format characters (the bidi
// overrides of Unicode TR #9 among them, which can reorder what is displayed)
// and line or paragraph separators.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("name is empty")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("name is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > maxNameRunes {
		return fmt.Errorf("name has %d characters, more than %d", n, maxNameRunes)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("name contains control or formatting character %U", r)
		}
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("name has leading or trailing spaces")
	}
	return nil
}

// checkPersonalID checks the shape of a Belarusian personal (identification)
// number: 7 digits, a letter, 3 digits, 2 letters, 1 digit, e.g. 3140582A001PB3.
// The check digit is deliberately not verified, so that test and demo numbers
// stay usable; the number is the CA's input, vetted by the registrar who
// issues the certificate, not a claim npes must prove.
func checkPersonalID(id string) error {
	const shape = "DDDDDDDLDDDLLD"
	bad := fmt.Errorf("personal number %q must be 14 characters shaped like 3140582A001PB3", id)
	if len(id) != personalIDLength {
		return bad
	}
	for i := range len(shape) {
		c := id[i]
		switch shape[i] {
		case 'D':
			if c < '0' || c > '9' {
				return bad
			}
		case 'L':
			if c < 'A' || c > 'Z' {
				return bad
			}
		}
	}
	return nil
}

// checkUNP checks a UNP (учетный номер плательщика, taxpayer number): 9 digits.
func checkUNP(unp string) error {
	if len(unp) != unpLength || !allDigits(unp) {
		return fmt.Errorf("UNP %q must be exactly 9 digits", unp)
	}
	return nil
}

// checkRegions checks that each region is a 3-digit postcode prefix, listed once.
func checkRegions(regions []string) error {
	seen := make(map[string]bool, len(regions))
	for _, r := range regions {
		if len(r) != regionLength || !allDigits(r) {
			return fmt.Errorf("region %q must be 3 digits (a postcode prefix)", r)
		}
		if seen[r] {
			return fmt.Errorf("region %s is listed twice", r)
		}
		seen[r] = true
	}
	return nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// uris renders the attributes as the URI SANs of the package doc, role first,
// regions sorted.
func (a attributes) uris() []string {
	out := []string{urnPrefix + attrRole + ":" + string(a.role)}
	if a.personalID != "" {
		out = append(out, urnPrefix+attrPersonalID+":"+a.personalID)
	}
	if a.unp != "" {
		out = append(out, urnPrefix+attrUNP+":"+a.unp)
	}
	if len(a.regions) > 0 {
		regions := slices.Clone(a.regions)
		slices.Sort(regions)
		out = append(out, urnPrefix+attrRegions+":"+strings.Join(regions, ","))
	}
	return out
}
