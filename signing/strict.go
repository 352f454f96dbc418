package signing

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Strict decoding. A signature covers bytes, so every textual form that
// carries them must have exactly one spelling: otherwise two different
// documents verify as "the same" evidence and byte-level comparisons (log
// leaves, chain hashes) break.

var errBase64 = errors.New("non-canonical base64")

// decodeB64URL decodes unpadded base64url (RFC 7515 §2) and rejects every
// non-canonical spelling: padding, non-zero trailing bits (Strict) and the
// line breaks that encoding/base64 otherwise skips silently.
func decodeB64URL(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errBase64
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errBase64
	}
	return b, nil
}

// decodeB64Std decodes padded standard base64 (RFC 4648 §4), as used by
// x5c (RFC 7515 §4.1.6) and by hashes in checkpoints and proofs.
func decodeB64Std(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errBase64
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errBase64
	}
	return b, nil
}

func encodeB64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// maxJSONDepth bounds nesting so a hostile document cannot exhaust the
// stack or time of the checker.
const maxJSONDepth = 32

// checkJSON accepts exactly one well-formed UTF-8 JSON value with no
// duplicate member names in any object. Go's encoding/json keeps the last
// of duplicate members and replaces invalid UTF-8, while other parsers
// keep the first or refuse: a signed header or payload that two verifiers
// read differently is an attack (RFC 7515 §5.2 lets a JWS parser reject
// duplicates; RFC 8259 §4 leaves their meaning undefined).
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]struct{}
	}
	var stack []*frame
	values := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		} else {
			if values++; values > 1 {
				return errors.New("more than one JSON value")
			}
		}
		if top != nil && top.object && top.expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expectKey = true
				}
				continue
			}
			key, ok := tok.(string)
			if !ok {
				return errors.New("object key is not a string")
			}
			if _, dup := top.keys[key]; dup {
				return fmt.Errorf("duplicate member %q", key)
			}
			top.keys[key] = struct{}{}
			top.expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return errors.New("JSON nested too deeply")
			}
			f := &frame{object: tok == json.Delim('{')}
			if f.object {
				f.expectKey = true
				f.keys = make(map[string]struct{})
			}
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].expectKey = true
			}
		default:
			if top != nil && top.object {
				top.expectKey = true
			}
		}
	}
	if values != 1 {
		return errors.New("no JSON value")
	}
	return nil
}

// unmarshalStrict checks data with checkJSON and decodes it into v,
// rejecting members v does not declare.
func unmarshalStrict(data []byte, v any) error {
	if err := checkJSON(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
