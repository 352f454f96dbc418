package signing

import (
	"reflect"
	"testing"
)

// FuzzParseCanonical: the canonical fast path never accepts what the
// strict JSON parse would read differently or refuse as JSON.
func FuzzParseCanonical(f *testing.F) {
	f.Add([]byte(`{"payload":"e30","signatures":[{"protected":"eyJ9","signature":"AAAA"},{"protected":"e30","signature":"AQ"}]}`))
	f.Add([]byte(`{"payload":"","signatures":[{"protected":"","signature":""}]}`))
	f.Add([]byte(`{"payload":"e30","signatures":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseCanonical(data)
		if !ok {
			return
		}
		type wire Envelope
		var strict wire
		if err := unmarshalStrict(data, &strict); err != nil {
			t.Fatalf("fast path accepted what strict JSON refuses: %v", err)
		}
		if !reflect.DeepEqual(fast, Envelope(strict)) {
			t.Fatalf("fast %+v, strict %+v", fast, strict)
		}
		if string(fast.Bytes()) != string(data) {
			t.Fatal("fast path accepted a non-canonical form")
		}
	})
}
