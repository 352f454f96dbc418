package mailbox

import (
	"context"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/certs"
)

// Precheck runs the checks of Submit that do not depend on who lives at
// the address, so a sender can correct a letter before sending it: the
// fields, the address, and whether the letter could be printed (postcode,
// address window, every attachment in a printable format, office documents
// converted). Submit checks printability only when the letter may be
// printed; Precheck always does, so its answer says nothing about whether
// a mailbox exists at the address (that would let anyone probe who is
// registered). It returns the parsed address, with its warnings, whenever
// the address parses.
func (s *Service) Precheck(ctx context.Context, c Caller, sub Submission, d *Draft) (addressing.Address, error) {
	if c.Identity.Role != certs.RolePerson && c.Identity.Role != certs.RoleOrg {
		return addressing.Address{}, Errorf(ErrForbidden, "role_not_allowed", "only person and org certificates send letters")
	}
	if err := s.checkSubmission(&sub); err != nil {
		return addressing.Address{}, err
	}
	addr, err := addressing.Parse(sub.RecipientAddress)
	if err != nil {
		return addressing.Address{}, Errorf(ErrInvalid, "bad_address", "%s", err.Error())
	}
	l := Letter{ID: d.letterID, RecipientName: sub.RecipientName, RecipientAddress: sub.RecipientAddress,
		Registered: sub.Registered, Subject: sub.Subject, Attachments: d.attachments()}
	return addr, s.checkPrintable(ctx, &l, addr, d)
}

// Attachments describes the attachments staged so far.
func (d *Draft) Attachments() []AttachmentMeta { return d.attachments() }
