package addressing

import (
	"context"
	"errors"
	"fmt"
)

// UPU S10 item identifiers (UPU standard S10, "Identifiers for postal
// items"): 13 characters, a two-letter service indicator, an eight-digit
// serial number, a check digit and the ISO 3166-1 alpha-2 code of the
// issuing postal operator: RR123456785BY.

// S10 constants for the items npes issues: registered letters (service
// indicator RR) of the Belarusian operator (BY).
const (
	S10Service   = "RR"
	S10Country   = "BY"
	S10MaxSerial = 99_999_999
)

var (
	// ErrBadS10 is wrapped by CheckS10 and ParseS10 errors.
	ErrBadS10 = errors.New("bad S10 item identifier")
	// ErrS10Serial is returned for a serial number that does not fit eight
	// digits. An allocator that reaches it is exhausted: serials are never
	// reused.
	ErrS10Serial = errors.New("S10 serial number out of range")
)

// S10CheckDigit returns the check digit of an eight-digit serial: the
// weighted sum modulo 11 subtracted from 11, where 10 becomes 0 and 11
// becomes 5.
func S10CheckDigit(serial uint32) (int, error) {
	if serial > S10MaxSerial {
		return 0, fmt.Errorf("%w: %d", ErrS10Serial, serial)
	}
	return s10Check(serial), nil
}

func s10Check(serial uint32) int {
	// The weights of the eight serial digits, left to right.
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i := 7; i >= 0; i-- {
		sum += int(serial%10) * weights[i]
		serial /= 10
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 0
	case 11:
		return 5
	default:
		return c
	}
}

// S10 returns the item identifier of a registered letter with the given
// serial: "RR", the serial in eight digits, the check digit, "BY".
func S10(serial uint32) (string, error) {
	if serial > S10MaxSerial {
		return "", fmt.Errorf("%w: %d", ErrS10Serial, serial)
	}
	b := make([]byte, 0, 13)
	b = append(b, S10Service...)
	b = fmt.Appendf(b, "%08d", serial)
	b = append(b, byte('0'+s10Check(serial)))
	b = append(b, S10Country...)
	return string(b), nil
}

// S10ID is a parsed item identifier.
type S10ID struct {
	Service string // two letters: RR registered letter, EE EMS, CP parcel ...
	Serial  uint32
	Country string // ISO 3166-1 alpha-2 code of the issuing operator
}

// String formats the identifier with its check digit.
func (id S10ID) String() string {
	return fmt.Sprintf("%s%08d%d%s", id.Service, id.Serial, s10Check(id.Serial), id.Country)
}

// ParseS10 parses and validates an item identifier of any operator and
// service. It is strict: 13 characters, upper-case letters, no spaces.
func ParseS10(id string) (S10ID, error) {
	if len(id) != 13 {
		return S10ID{}, fmt.Errorf("%w: %q: want 13 characters", ErrBadS10, id)
	}
	for _, i := range [...]int{0, 1, 11, 12} {
		if id[i] < 'A' || id[i] > 'Z' {
			return S10ID{}, fmt.Errorf("%w: %q: characters 1-2 and 12-13 must be capital letters", ErrBadS10, id)
		}
	}
	var serial uint32
	for i := 2; i < 10; i++ {
		if !isDigit(id[i]) {
			return S10ID{}, fmt.Errorf("%w: %q: characters 3-10 must be digits", ErrBadS10, id)
		}
		serial = serial*10 + uint32(id[i]-'0')
	}
	if !isDigit(id[10]) {
		return S10ID{}, fmt.Errorf("%w: %q: character 11 must be the check digit", ErrBadS10, id)
	}
	if want := s10Check(serial); int(id[10]-'0') != want {
		return S10ID{}, fmt.Errorf("%w: %q: check digit is %c, want %d", ErrBadS10, id, id[10], want)
	}
	return S10ID{Service: id[:2], Serial: serial, Country: id[11:]}, nil
}

// CheckS10 validates an item identifier (format and check digit).
func CheckS10(id string) error {
	_, err := ParseS10(id)
	return err
}

// SerialAllocator hands out S10 serial numbers. Implementations (the
// store) guarantee that a serial is never handed out twice, also across
// processes sharing a database, and return ErrS10Serial when the range is
// exhausted.
type SerialAllocator interface {
	NextSerial(ctx context.Context) (uint32, error)
}

// NewS10 allocates a serial and returns the identifier of a registered
// letter.
func NewS10(ctx context.Context, alloc SerialAllocator) (string, error) {
	serial, err := alloc.NextSerial(ctx)
	if err != nil {
		return "", fmt.Errorf("allocate S10 serial: %w", err)
	}
	return S10(serial)
}
