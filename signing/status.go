package signing

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A Status is the operator's signed statement of what a bundle contains,
// made when the bundle is assembled: without it, a bundle with its last
// records cut off (a refusal, a return to sender) would verify as a
// shorter, different story. It names the letter, the number of its
// evidence records and the hash of the last one, its state, the recipient
// mailbox's log entries the bundle carries (count and last hash), the
// checkpoint size the bundle's proofs refer to, and the time.
//
// As a signed note (c2sp.org/signed-note) signed by the operator's Ed25519
// key and co-signed with ML-DSA-65, under the key name and origin line
// "npes/status/<kid>" (never a checkpoint origin):
//
//	npes/status/<kid>
//	letter <id>
//	state <state>
//	records <n>
//	last <hex sha256>
//	mailbox <id or ->
//	mailbox_entries <m>
//	mailbox_last <hex sha256 or ->
//	checkpoint <size>
//	time <RFC 3339 UTC>
type Status struct {
	Letter         string
	State          string
	Records        int
	Last           string
	Mailbox        string
	MailboxEntries int
	MailboxLast    string
	CheckpointSize uint64
	Time           time.Time
}

var statusFields = []string{"letter", "state", "records", "last", "mailbox", "mailbox_entries", "mailbox_last", "checkpoint", "time"}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func unDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// text returns the note text under origin.
func (st Status) text(origin string) (string, error) {
	word := func(name, v string) error {
		if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: %s %q is empty or has spaces or control characters", ErrStatus, name, v)
		}
		return nil
	}
	vals := []string{st.Letter, st.State, strconv.Itoa(st.Records), st.Last, orDash(st.Mailbox),
		strconv.Itoa(st.MailboxEntries), orDash(st.MailboxLast), strconv.FormatUint(st.CheckpointSize, 10),
		st.Time.UTC().Format(time.RFC3339Nano)}
	var b strings.Builder
	b.WriteString(origin + "\n")
	for i, f := range statusFields {
		if err := word(f, vals[i]); err != nil {
			return "", err
		}
		b.WriteString(f + " " + vals[i] + "\n")
	}
	return b.String(), nil
}

// validate checks the values a status must have.
func (st Status) validate() error {
	switch {
	case st.Records < 1 || st.Records > MaxBundleEvidence:
		return fmt.Errorf("%w: records %d", ErrStatus, st.Records)
	case !isHexDigest(st.Last):
		return fmt.Errorf("%w: last is not a hex SHA-256", ErrStatus)
	case st.MailboxEntries < 0 || st.MailboxEntries > MaxBundleEvidence:
		return fmt.Errorf("%w: mailbox_entries %d", ErrStatus, st.MailboxEntries)
	case (st.MailboxEntries == 0) != (st.MailboxLast == ""):
		return fmt.Errorf("%w: mailbox_last must be given exactly when there are mailbox entries", ErrStatus)
	case st.MailboxLast != "" && !isHexDigest(st.MailboxLast):
		return fmt.Errorf("%w: mailbox_last is not a hex SHA-256", ErrStatus)
	case st.MailboxEntries > 0 && st.Mailbox == "":
		return fmt.Errorf("%w: mailbox entries without a mailbox", ErrStatus)
	case st.Time.IsZero():
		return fmt.Errorf("%w: missing time", ErrStatus)
	}
	return nil
}

// SignStatus signs a status note with the operator's Ed25519 key and the
// ML-DSA-65 cosignature, under the origin "npes/status/<kid>".
func (s *Sealer) SignStatus(st Status) ([]byte, error) {
	if err := st.validate(); err != nil {
		return nil, err
	}
	origin := StatusOriginPrefix + s.Kid()
	text, err := st.text(origin)
	if err != nil {
		return nil, err
	}
	ed, ml, err := s.noteSigners(origin)
	if err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: text}, ed, ml)
	if err != nil {
		return nil, fmt.Errorf("%w: sign: %w", ErrStatus, err)
	}
	return msg, nil
}

// OpenStatus verifies a status note against pinned trust (an Ed25519
// signature and an ML-DSA-65 cosignature by pinned operator keys) and
// parses it strictly: origin "npes/status/<kid of a pinned Ed25519 key>",
// exactly the fields of Status in order, canonical numbers.
func OpenStatus(msg []byte, t *Trust) (Status, error) {
	n, err := t.openNote(msg)
	if err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrStatus, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != len(statusFields)+2 || lines[len(lines)-1] != "" {
		return Status{}, fmt.Errorf("%w: want %d lines", ErrStatus, len(statusFields)+1)
	}
	kid, ok := strings.CutPrefix(lines[0], StatusOriginPrefix)
	if k, found := t.Keys.Lookup(kid); !ok || !found || k.Alg != AlgEdDSA {
		return Status{}, fmt.Errorf("%w: origin %q is not npes/status/<kid of a pinned Ed25519 key>", ErrStatus, lines[0])
	}
	vals := make([]string, len(statusFields))
	for i, f := range statusFields {
		v, ok := strings.CutPrefix(lines[i+1], f+" ")
		if !ok || v == "" {
			return Status{}, fmt.Errorf("%w: line %d is not %q", ErrStatus, i+2, f)
		}
		vals[i] = v
	}
	num := func(s string) (uint64, error) {
		if len(s) > 1 && s[0] == '0' {
			return 0, fmt.Errorf("%w: number %q has a leading zero", ErrStatus, s)
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: number %q", ErrStatus, s)
		}
		return n, nil
	}
	st := Status{Letter: vals[0], State: vals[1], Last: vals[3], Mailbox: unDash(vals[4]), MailboxLast: unDash(vals[6])}
	records, err := num(vals[2])
	if err != nil {
		return Status{}, err
	}
	entries, err := num(vals[5])
	if err != nil {
		return Status{}, err
	}
	st.Records, st.MailboxEntries = int(records), int(entries)
	if vals[7] != "0" && vals[7][0] == '0' {
		return Status{}, fmt.Errorf("%w: checkpoint size %q", ErrStatus, vals[7])
	}
	if st.CheckpointSize, err = strconv.ParseUint(vals[7], 10, 64); err != nil {
		return Status{}, fmt.Errorf("%w: checkpoint size %q", ErrStatus, vals[7])
	}
	if st.Time, err = time.Parse(time.RFC3339Nano, vals[8]); err != nil || !strings.HasSuffix(vals[8], "Z") {
		return Status{}, fmt.Errorf("%w: time %q is not RFC 3339 UTC", ErrStatus, vals[8])
	}
	if err := st.validate(); err != nil {
		return Status{}, err
	}
	return st, nil
}
