package token

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	slot := 3
	cases := []struct {
		in   string
		want URI
		err  string
	}{
		{in: "pkcs11:token=npes;object=ivan", want: URI{Token: "npes", Object: "ivan"}},
		{in: "PKCS11:token=My%20Token;id=%01%02;type=private", want: URI{Token: "My Token", ID: []byte{1, 2}}},
		{in: "pkcs11:serial=0123abcd;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so",
			want: URI{Serial: "0123abcd", Object: "k", ModulePath: "/usr/lib/softhsm/libsofthsm2.so"}},
		{in: "pkcs11:slot-id=3;object=k;manufacturer=SoftHSM%20project", want: URI{SlotID: &slot, Object: "k"}},
		{in: "pkcs:token=a;object=b", err: "must start with pkcs11:"},
		{in: "pkcs11:object=ivan", err: "name the token"},
		{in: "pkcs11:token=npes", err: "name the key"},
		{in: "pkcs11:token=npes;object=a;object=b", err: "appears twice"},
		{in: "pkcs11:token=npes;objet=a", err: "unknown path attribute"},
		{in: "pkcs11:token=npes;object", err: "has no value"},
		{in: "pkcs11:token=npes;object=a;type=cert", err: "type=private"},
		{in: "pkcs11:token=npes;object=%zz", err: "invalid URL escape"},
		{in: "pkcs11:token=npes;object=a?pin-value=1234", err: "NPES_PKCS11_PIN"},
		{in: "pkcs11:token=npes;object=a?pin-source=file:/tmp/pin", err: "NPES_PKCS11_PIN"},
		{in: "pkcs11:token=npes;object=a?module-name=softhsm2", err: "unknown query attribute"},
		{in: "pkcs11:slot-id=-1;object=a", err: "slot-id"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseURI(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Token != tc.want.Token || got.Serial != tc.want.Serial || got.Object != tc.want.Object ||
				!bytes.Equal(got.ID, tc.want.ID) || got.ModulePath != tc.want.ModulePath ||
				(got.SlotID == nil) != (tc.want.SlotID == nil) || (got.SlotID != nil && *got.SlotID != *tc.want.SlotID) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
