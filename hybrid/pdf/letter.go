package pdf

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Callers test them with errors.Is; the wrapped message says
// precisely what is wrong so it can be shown to the sender.
var (
	// ErrUnprintable marks an attachment that the print path cannot or must
	// not print: unknown type, malformed, too large, or carrying active content.
	ErrUnprintable = errors.New("attachment is not printable")

	// ErrInvalidLetter marks a Letter or Activation that cannot be rendered
	// because a required field is missing or malformed.
	ErrInvalidLetter = errors.New("invalid letter")

	// ErrTooLong marks a letter whose rendering would exceed MaxPages.
	ErrTooLong = errors.New("letter too long to print")

	// ErrAddressTooLong marks a recipient name and address that do not
	// fit the window of a DL envelope at the smallest legible size.
	ErrAddressTooLong = errors.New("address too long for the envelope window")
)

// Limits enforced at submission (CheckAttachment) and again at rendering.
// They bound memory and time per letter, and keep a letter within what an
// inserter can put into one envelope.
const (
	// MaxAttachmentBytes bounds one attachment's raw size.
	MaxAttachmentBytes = 20 << 20
	// MaxTextAttachmentBytes bounds a text/plain attachment; a megabyte of
	// text is already several hundred printed pages.
	MaxTextAttachmentBytes = 1 << 20
	// MaxPDFPages bounds the pages of one attached PDF.
	MaxPDFPages = 100
	// MaxImagePixels bounds width×height of an attached JPEG/PNG. 25 Mpx
	// admits a 6000×4000 camera image.
	MaxImagePixels = 25_000_000
	// MaxImageDecodeBytes bounds the memory decoding one attached image
	// takes, as its header says (CheckAttachment): a 24 Mpx baseline JPEG
	// with 4:2:0 chroma needs 36 MiB, an 8-bit RGBA PNG 4 bytes a pixel;
	// 16-bit, interlaced and progressive images need two to five times
	// more and are admitted at correspondingly fewer pixels. Decoding is
	// followed by downsampling to at most 300 dpi at the printed size,
	// and images are decoded one at a time.
	MaxImageDecodeBytes = 64 << 20
	// MaxImageSide bounds either side of an attached image, so a 1×25M
	// strip cannot pass the pixel limit.
	MaxImageSide = 20_000
	// MaxPages bounds the pages of a whole rendered letter.
	MaxPages = 300
	// MaxPDFPagePoints bounds either side of an attached PDF page (A3's long
	// side is 1191 pt); larger pages cannot be printed on office printers.
	MaxPDFPagePoints = 1224.0
)

// Attachment is one file attached to a letter.
type Attachment struct {
	Name        string // file name as given by the sender; printed in the attachment list
	ContentType string // application/pdf, image/jpeg, image/png or text/plain (charset utf-8)
	Data        []byte
}

// Letter is everything the renderer needs to print one letter. Address lines
// arrive already formatted (addressing owns the formatting rules); the
// renderer only lays them out.
type Letter struct {
	ID            string // letter id (UUID string); printed and encoded in the DataMatrix
	Tracking      string // UPU S10 item id for registered letters, e.g. RR123456785BY; "" for simple letters
	SenderLine    string // one-line return address, printed small above the recipient
	RecipientName string
	AddressLines  []string // street/house/unit, settlement, district/region, postcode — in envelope order
	Subject, Body string
	// Date is the printed date and the PDF's creation and modification
	// date. It is the only time source, so the same Letter renders to the
	// same bytes. It is printed in its own location: pass Minsk local time.
	Date        time.Time
	Attachments []Attachment
	Duplex      bool // printed on both sides of the sheet; changes sheet counting
	// Language of the fixed labels (endorsement, information block,
	// attachment headings, page numbers): Belarusian or Russian; ""
	// detects it from the subject and body (DetectLanguage).
	Language string
}

// Activation is the short letter that carries the one-time code proving a
// pending mailbox's postal address (DESIGN §1, flow 1).
type Activation struct {
	ID            string // id of this activation letter; encoded in the DataMatrix
	RecipientName string
	AddressLines  []string
	Code          string // one-time activation code, e.g. "K7QX-2M9D"
	MailboxID     string
	Date          time.Time
	Tracking      string // optional S10 id when the code travels as a registered letter
	SenderLine    string // optional return address of the operator
	Duplex        bool
}

// Result is a rendered letter.
type Result struct {
	PDF    []byte
	Pages  int    // pages including merged attachment pages
	Sheets int    // sheets of paper: Pages, or ceil(Pages/2) for duplex
	SHA256 string // hex SHA-256 of PDF; goes into the RelayToNonERDS evidence
	// Warnings lists lossy adjustments made to fit the letter on paper
	// (address shrunk or truncated, characters the fonts lack replaced).
	Warnings []string
}

// maxIDLen bounds the letter id so the DataMatrix payload stays small
// enough for a 0.5 mm module symbol in the page corner.
const maxIDLen = 64

// validateCommon checks the fields shared by letters and activation letters.
func validateCommon(id, tracking, name string, lines []string, date time.Time) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: id must be 1..%d characters", ErrInvalidLetter, maxIDLen)
	}
	for _, c := range id {
		// The id is printed as is and encoded in the DataMatrix, whose
		// payload uses '|' as field separator.
		if c <= ' ' || c > '~' || c == '|' {
			return fmt.Errorf("%w: id %q must be printable ASCII without '|'", ErrInvalidLetter, id)
		}
	}
	if tracking != "" && !isS10Shape(tracking) {
		return fmt.Errorf("%w: tracking %q is not a UPU S10 item id (2 letters, 9 digits, 2 letters)", ErrInvalidLetter, tracking)
	}
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: recipient name is empty", ErrInvalidLetter)
	}
	nonEmpty := 0
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			nonEmpty++
		}
	}
	if nonEmpty == 0 {
		return fmt.Errorf("%w: address lines are empty", ErrInvalidLetter)
	}
	if date.IsZero() {
		return fmt.Errorf("%w: date is zero (the date is the only time source; it must be set)", ErrInvalidLetter)
	}
	if y := date.UTC().Year(); y < 1000 || y > 9999 {
		return fmt.Errorf("%w: date year %d out of range", ErrInvalidLetter, y)
	}
	return nil
}

// isS10Shape reports whether s has the UPU S10 shape: service indicator (2
// letters), serial (8 digits), check digit, ISO 3166 country code (2
// letters). The check digit itself is addressing's business; the renderer
// only refuses what cannot be a valid item id.
func isS10Shape(s string) bool {
	if len(s) != 13 {
		return false
	}
	for i := 0; i < 13; i++ {
		c := s[i]
		switch {
		case i < 2 || i > 10:
			if c < 'A' || c > 'Z' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// s10HumanReadable formats an S10 id the way UPU S10 prints it under the
// barcode: "RR 123 456 785 BY".
func s10HumanReadable(s string) string {
	return s[0:2] + " " + s[2:5] + " " + s[5:8] + " " + s[8:11] + " " + s[11:13]
}
