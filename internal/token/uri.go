// Package token signs with private keys that never leave a PKCS#11 token
// (USB tokens, smart cards, HSMs), named by PKCS#11 URIs (RFC 7512). A key
// on a token is a crypto.Signer: TLS client authentication and recipient
// statements use it as they use a key from key.pem.
package token

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// URI is a parsed PKCS#11 URI naming one private key (RFC 7512).
type URI struct {
	// Token selection: the token's label, serial number or slot id
	// (at least one).
	Token  string
	Serial string
	SlotID *int
	// Object selection: the key's label (CKA_LABEL) and/or id (CKA_ID).
	Object string
	ID     []byte
	// ModulePath is the PKCS#11 library (query attribute module-path).
	ModulePath string
}

// pathAttrs are the RFC 7512 §2.3 path attributes this package reads;
// the informational ones (manufacturer, model, library-*, slot-*) are
// accepted and not used for selection.
var pathAttrs = map[string]bool{
	"token": true, "serial": true, "slot-id": true, "object": true, "id": true, "type": true,
	"manufacturer": true, "model": true, "library-manufacturer": true, "library-description": true,
	"library-version": true, "slot-manufacturer": true, "slot-description": true,
}

// ParseURI parses a PKCS#11 URI strictly: the scheme, path attributes
// separated by ";" and query attributes by "&", values percent-encoded
// (RFC 7512 §2.3). Unknown or repeated attributes are refused rather than
// ignored: a typo must not select some other key. A type other than
// "private" is refused (a signer needs the private key), and so are
// pin-value and pin-source: the PIN comes from NPES_PKCS11_PIN or a
// prompt, never from a string that ends up in shell history and process
// listings.
func ParseURI(s string) (URI, error) {
	var u URI
	bad := func(format string, args ...any) (URI, error) {
		return URI{}, fmt.Errorf("PKCS#11 URI %q: %s", s, fmt.Sprintf(format, args...))
	}
	if len(s) < 7 || !strings.EqualFold(s[:7], "pkcs11:") {
		return bad("must start with pkcs11: (RFC 7512)")
	}
	rest := s[7:]
	path, query, _ := strings.Cut(rest, "?")
	seen := map[string]bool{}
	for _, part := range splitNonEmpty(path, ";") {
		name, raw, ok := strings.Cut(part, "=")
		if !ok {
			return bad("path attribute %q has no value", part)
		}
		if !pathAttrs[name] {
			return bad("unknown path attribute %q", name)
		}
		if seen[name] {
			return bad("attribute %q appears twice", name)
		}
		seen[name] = true
		v, err := url.PathUnescape(raw)
		if err != nil {
			return bad("attribute %q: %v", name, err)
		}
		switch name {
		case "token":
			u.Token = v
		case "serial":
			u.Serial = v
		case "slot-id":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return bad("slot-id %q is not a decimal number", v)
			}
			u.SlotID = &n
		case "object":
			u.Object = v
		case "id":
			u.ID = []byte(v)
		case "type":
			if v != "private" {
				return bad("type=%s: a signing key is type=private", v)
			}
		}
	}
	for _, part := range splitNonEmpty(query, "&") {
		name, raw, ok := strings.Cut(part, "=")
		if !ok {
			return bad("query attribute %q has no value", part)
		}
		if seen["?"+name] {
			return bad("attribute %q appears twice", name)
		}
		seen["?"+name] = true
		v, err := url.PathUnescape(raw)
		if err != nil {
			return bad("attribute %q: %v", name, err)
		}
		switch name {
		case "module-path":
			u.ModulePath = v
		case "pin-value", "pin-source":
			return bad("%s is not accepted: give the PIN in NPES_PKCS11_PIN or at the prompt", name)
		default:
			return bad("unknown query attribute %q", name)
		}
	}
	if u.Token == "" && u.Serial == "" && u.SlotID == nil {
		return bad("name the token (token=LABEL, serial=… or slot-id=…)")
	}
	if u.Object == "" && len(u.ID) == 0 {
		return bad("name the key (object=LABEL or id=…)")
	}
	return u, nil
}

func splitNonEmpty(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}
