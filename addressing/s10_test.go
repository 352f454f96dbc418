package addressing_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/npes/npes/addressing"
)

func TestS10KnownValues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		serial uint32
		id     string
	}{
		{12345678, "RR123456785BY"}, // weighted sum 204, 204 mod 11 = 6, 11-6 = 5
		{47312482, "RR473124829BY"}, // sum 200, 200 mod 11 = 2, 11-2 = 9
		{47312483, "RR473124832BY"}, // sum 207, 207 mod 11 = 9, 11-9 = 2
		{0, "RR000000005BY"},        // sum 0: 11 → 5
		{99999999, "RR999999995BY"}, // sum 396 = 36·11: 11 → 5
		{8, "RR000000080BY"},        // sum 56, 56 mod 11 = 1: 10 → 0
	} {
		got, err := addressing.S10(c.serial)
		if err != nil || got != c.id {
			t.Errorf("S10(%d) = %q, %v; want %q", c.serial, got, err, c.id)
		}
		if err := addressing.CheckS10(c.id); err != nil {
			t.Errorf("CheckS10(%q): %v", c.id, err)
		}
		id, err := addressing.ParseS10(c.id)
		if err != nil || id.Serial != c.serial || id.Service != "RR" || id.Country != "BY" || id.String() != c.id {
			t.Errorf("ParseS10(%q) = %+v, %v", c.id, id, err)
		}
	}
	d, err := addressing.S10CheckDigit(47312482)
	if err != nil || d != 9 {
		t.Errorf("S10CheckDigit(47312482) = %d, %v; want 9", d, err)
	}
}

// TestS10CheckDigitMapping covers the two special cases of the S10 check
// digit: a remainder of 1 gives 10, written 0, and a remainder of 0 gives
// 11, written 5.
func TestS10CheckDigitMapping(t *testing.T) {
	t.Parallel()
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	seen := map[int]bool{}
	for serial := uint32(0); serial < 3000; serial++ {
		sum := 0
		for i, n := 7, serial; i >= 0; i, n = i-1, n/10 {
			sum += int(n%10) * weights[i]
		}
		want := 11 - sum%11
		switch want {
		case 10:
			want = 0
		case 11:
			want = 5
		}
		got, err := addressing.S10CheckDigit(serial)
		if err != nil || got != want {
			t.Fatalf("S10CheckDigit(%d) = %d, %v; want %d", serial, got, err, want)
		}
		seen[sum%11] = true
	}
	if !seen[0] || !seen[1] {
		t.Fatal("the sample never hit the remainders 0 and 1")
	}
}

func TestS10RoundTrip(t *testing.T) {
	t.Parallel()
	for serial := uint32(0); serial <= addressing.S10MaxSerial; serial += 9_876_543 {
		id, err := addressing.S10(serial)
		if err != nil {
			t.Fatal(err)
		}
		p, err := addressing.ParseS10(id)
		if err != nil || p.Serial != serial {
			t.Fatalf("ParseS10(S10(%d)=%q) = %+v, %v", serial, id, p, err)
		}
	}
}

func TestS10SerialRange(t *testing.T) {
	t.Parallel()
	if _, err := addressing.S10(100_000_000); !errors.Is(err, addressing.ErrS10Serial) {
		t.Errorf("S10(100000000) error = %v, want ErrS10Serial", err)
	}
	if _, err := addressing.S10CheckDigit(1 << 31); !errors.Is(err, addressing.ErrS10Serial) {
		t.Errorf("S10CheckDigit(2^31) error = %v, want ErrS10Serial", err)
	}
}

func TestCheckS10Bad(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"RR123456784BY",  // wrong check digit
		"RR123456786BY",  // wrong check digit
		"RR213456785BY",  // transposed digits
		"RR12345678BY",   // too short
		"RR1234567855BY", // too long
		"rr123456785BY",  // lower case
		"RR123456785by",
		"R1123456785BY",
		"RR12345678XBY",
		"RR1234A6785BY",
		"RR 12345678 5 BY",
		"",
		"РР123456785BY", // Cyrillic Р
	} {
		if err := addressing.CheckS10(id); !errors.Is(err, addressing.ErrBadS10) {
			t.Errorf("CheckS10(%q) = %v, want ErrBadS10", id, err)
		}
	}
	// Other services and operators are valid S10 identifiers.
	for _, id := range []string{"EE123456785RU", "CP473124829DE", "LX000000005CN"} {
		if err := addressing.CheckS10(id); err != nil {
			t.Errorf("CheckS10(%q): %v", id, err)
		}
	}
}

// counter is a SerialAllocator for tests: serials in order, then exhaustion.
type counter struct {
	next, last uint32
}

func (c *counter) NextSerial(ctx context.Context) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if c.next > c.last {
		return 0, addressing.ErrS10Serial
	}
	c.next++
	return c.next - 1, nil
}

func TestNewS10(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alloc := &counter{next: 47312482, last: 47312483}
	var _ addressing.SerialAllocator = alloc
	for _, want := range []string{"RR473124829BY", "RR473124832BY"} {
		got, err := addressing.NewS10(ctx, alloc)
		if err != nil || got != want {
			t.Fatalf("NewS10 = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := addressing.NewS10(ctx, alloc); !errors.Is(err, addressing.ErrS10Serial) {
		t.Fatalf("NewS10 after exhaustion: %v, want ErrS10Serial", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := addressing.NewS10(cancelled, &counter{last: 10}); !errors.Is(err, context.Canceled) {
		t.Fatalf("NewS10 with a cancelled context: %v", err)
	}
}

func ExampleS10() {
	id, err := addressing.S10(47312482)
	if err != nil {
		panic(err)
	}
	fmt.Println(id, addressing.CheckS10(id) == nil)
	// Output: RR473124829BY true
}
