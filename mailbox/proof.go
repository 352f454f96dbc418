package mailbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/signing"
)

// AddressRules is the version of the rules a mailbox address must pass
// (addressing.ParseStrict). A mailbox checked against an older version is
// checked again at start-up by RecheckAddresses; raise it whenever the
// parser or the strict rules change what an address means.
const AddressRules = 1

// parseMailboxAddress parses the address of a mailbox strictly: proving it
// with a letter must prove the delivery point the match key covers, so
// nothing may be printed that the key does not cover (DESIGN §5).
func parseMailboxAddress(raw string) (addressing.Address, error) {
	addr, err := addressing.ParseStrict(raw)
	switch {
	case errors.Is(err, addressing.ErrBadAddress):
		return addr, Errorf(ErrInvalid, "bad_address", "%s", err.Error())
	case err != nil:
		return addr, Errorf(ErrInvalid, "inexact_address",
			"a mailbox address must name exactly one delivery point, because the activation letter proves only that: %s", err.Error())
	}
	return addr, nil
}

// activationLetter is a rendered activation letter and its print job,
// ready to be queued in the transaction that records its code.
type activationLetter struct {
	code string
	hash []byte
	doc  Rendered
	job  PrintJob
}

// newActivationLetter makes a new code for m and renders the letter that
// carries it to addr, outside any transaction. The envelope shows exactly
// the lines of addr's delivery point: what the match key covers, never
// the text as the holder typed it.
func (s *Service) newActivationLetter(ctx context.Context, m Mailbox, addr addressing.Address) (activationLetter, error) {
	code, err := newActivationCode()
	if err != nil {
		return activationLetter{}, err
	}
	now := s.now()
	l := activationLetter{code: code, hash: activationHash(m.ID, code)}
	if s.cfg.Renderer != nil {
		l.doc, err = s.cfg.Renderer.RenderActivation(ctx, PrintActivation{
			ID: uuid.NewString(), MailboxID: m.ID, RecipientName: m.HolderName,
			AddressLines: addr.DeliveryPoint().Lines(), Code: code, Date: now,
		})
		if err != nil {
			return activationLetter{}, fmt.Errorf("rendering the activation letter: %w", err)
		}
	}
	l.job = PrintJob{
		ID: uuid.NewString(), Kind: JobActivation, MailboxID: m.ID, Region: regionOf(addr.Postcode),
		Postcode: addr.Postcode, RecipientName: m.HolderName, State: JobQueued, AvailableAt: now,
		PDFSHA256: l.doc.SHA256, Pages: l.doc.Pages, Sheets: l.doc.Sheets, CreatedAt: now,
	}
	return l, nil
}

// letterToRegisteredAddress is a new activation letter to m's stored,
// normalized address (a resent activation letter, a recovery code): never
// to an address the caller typed.
func (s *Service) letterToRegisteredAddress(ctx context.Context, m Mailbox) (activationLetter, error) {
	var addr addressing.Address
	if err := json.Unmarshal(m.AddressJSON, &addr); err != nil {
		return activationLetter{}, fmt.Errorf("mailbox %s: stored address: %w", m.ID, err)
	}
	return s.newActivationLetter(ctx, m, addr)
}

// queueActivationLetter stores the letter's PDF and queues its print job.
func (s *Service) queueActivationLetter(ctx context.Context, tx Tx, l activationLetter) error {
	if l.doc.PDF != nil {
		blob, err := s.sealBlob(l.job.ID, l.doc.PDF)
		if err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, pdfBlobKey(l.job.ID), blob); err != nil {
			return err
		}
	}
	return tx.CreatePrintJob(ctx, l.job)
}

func (s *Service) sendActivationCode(mailboxID, code string) {
	if s.cfg.ActivationCodeSink != nil {
		s.cfg.ActivationCodeSink(mailboxID, code)
	}
}

// checkActivationCaps refuses one more activation letter for m (for a new
// mailbox when isNew) over the configured caps. Within a transaction that
// holds the holder's lock (LockHolder) the counts cannot change before
// commit.
func (s *Service) checkActivationCaps(ctx context.Context, tx Tx, m Mailbox, isNew bool) error {
	lim := s.cfg.Limits
	if isNew {
		n, err := tx.PendingMailboxes(ctx, m.Kind, m.HolderKey)
		if err != nil {
			return err
		}
		if n >= lim.MaxPendingMailboxes {
			return Errorf(ErrRateLimited, "too_many_pending",
				"you have %d mailboxes awaiting proof of address (at most %d): activate them with the codes from their letters, or have an address verified at a post office counter, before registering another",
				n, lim.MaxPendingMailboxes)
		}
	} else {
		n, err := tx.ActivationLetters(ctx, m.ID)
		if err != nil {
			return err
		}
		if n >= lim.MaxActivationLetters {
			return Errorf(ErrRateLimited, "too_many_pending",
				"%d activation letters were sent for this mailbox (at most %d): have the address verified at a post office counter",
				n, lim.MaxActivationLetters)
		}
	}
	n, err := tx.HolderActivationLetters(ctx, m.Kind, m.HolderKey, s.now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	if n >= lim.MaxActivationLettersPerDay {
		return Errorf(ErrRateLimited, "too_many_pending",
			"%d activation letters were sent for your mailboxes in the last 24 hours (at most %d): try again tomorrow",
			n, lim.MaxActivationLettersPerDay)
	}
	return nil
}

// ResendActivationLetter sends a pending mailbox a new activation letter,
// for one lost in the post. The new code replaces the old one, which stops
// working; wrong attempts keep counting, so sending letters never buys
// more guesses than MaxActivationTries.
func (s *Service) ResendActivationLetter(ctx context.Context, c Caller, mailboxID string) (Mailbox, error) {
	if err := mailboxHolder(c); err != nil {
		return Mailbox{}, err
	}
	var m Mailbox
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		if m, err = s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		if err := s.checkResend(m); err != nil {
			return err
		}
		return s.checkActivationCaps(ctx, tx, m, false)
	})
	if err != nil {
		return Mailbox{}, err
	}
	letter, err := s.letterToRegisteredAddress(ctx, m)
	if err != nil {
		return Mailbox{}, err
	}
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockHolder(ctx, m.Kind, m.HolderKey); err != nil {
			return err
		}
		cur, err := tx.LockMailbox(ctx, m.ID)
		if err != nil {
			return err
		}
		if cur.MatchKey != m.MatchKey {
			return Errorf(ErrConflict, "address_changed", "the mailbox's address changed meanwhile: try again")
		}
		if err := s.checkResend(cur); err != nil {
			return err
		}
		if err := s.checkActivationCaps(ctx, tx, cur, false); err != nil {
			return err
		}
		cur.ActivationHash = letter.hash
		if err := tx.UpdateMailbox(ctx, cur); err != nil {
			return err
		}
		m = cur
		return s.queueActivationLetter(ctx, tx, letter)
	})
	if err != nil {
		return Mailbox{}, err
	}
	s.sendActivationCode(m.ID, letter.code)
	s.log.InfoContext(ctx, "activation letter sent again", "mailbox", m.ID, "activation_job", letter.job.ID)
	return m, nil
}

func (s *Service) checkResend(m Mailbox) error {
	switch {
	case m.Status == StatusActive:
		return Errorf(ErrConflict, "mailbox_active", "the mailbox is active: its address is proven")
	case m.Attempts >= s.cfg.Limits.MaxActivationTries:
		return Errorf(ErrForbidden, "activation_locked", "too many wrong codes: verify the address at a post office counter")
	}
	return nil
}

// RecheckAddresses checks every mailbox whose address was checked against
// older rules than AddressRules, once (the version is recorded, so a
// restart does nothing more). An address that no longer passes
// addressing.ParseStrict proved less than its match key claims: its
// mailbox is set pending, whatever code it had stops working, and a new
// activation letter goes to the corrected address — its delivery point,
// the part the key covers — which becomes the mailbox's address. When no
// corrected address passes either (sides that disagree, a city without a
// street, the holder's other mailbox is there already), no letter can
// prove anything: the mailbox is locked for verification at a counter.
// Caps do not apply: the holder did not ask for these letters.
func (s *Service) RecheckAddresses(ctx context.Context) (demoted int, err error) {
	const batch = 100
	for {
		var ms []Mailbox
		err := s.cfg.Store.View(ctx, func(tx Tx) error {
			var err error
			ms, err = tx.MailboxesToRecheck(ctx, AddressRules, batch)
			return err
		})
		if err != nil {
			return demoted, err
		}
		for _, m := range ms {
			d, err := s.recheckAddress(ctx, m)
			if err != nil {
				return demoted, fmt.Errorf("rechecking the address of mailbox %s: %w", m.ID, err)
			}
			if d {
				demoted++
			}
		}
		if len(ms) < batch {
			return demoted, nil
		}
	}
}

func (s *Service) recheckAddress(ctx context.Context, m Mailbox) (demoted bool, err error) {
	strict, serr := addressing.ParseStrict(m.Address)
	if serr == nil && strict.MatchKey() == m.MatchKey {
		m.AddressRules = AddressRules
		return false, s.cfg.Store.InTx(ctx, func(tx Tx) error {
			cur, err := tx.LockMailbox(ctx, m.ID)
			if err != nil || cur.AddressRules >= AddressRules {
				return err
			}
			cur.AddressRules = AddressRules
			return tx.ReaddressMailbox(ctx, cur)
		})
	}
	// The corrected address: the delivery point the key covers, printed
	// canonically. It must pass the rules itself, or no letter proves it.
	var corrected addressing.Address
	cerr := serr
	if loose, err := addressing.Parse(m.Address); err == nil {
		corrected, cerr = addressing.ParseStrict(loose.DeliveryPoint().String())
	}
	var letter *activationLetter
	if cerr == nil {
		next := m
		next.Postcode = corrected.Postcode
		l, err := s.newActivationLetter(ctx, next, corrected)
		if err != nil {
			// A letter the renderer refuses cannot prove the address
			// either; the counter can.
			s.log.WarnContext(ctx, "corrected address not renderable; mailbox locked for counter verification", "mailbox", m.ID, "err", err)
		} else {
			letter = &l
		}
	}
	err = s.cfg.Store.InTx(ctx, func(tx Tx) (err error) {
		cur, err := tx.LockMailbox(ctx, m.ID)
		if err != nil {
			return err
		}
		if cur.AddressRules >= AddressRules || cur.Address != m.Address {
			letter = nil
			return nil // another process did it
		}
		if cur.Status == StatusActive {
			// The demotion follows the log like every status change:
			// written last, after the rows below.
			defer func() {
				if err == nil {
					_, err = s.appendLog(ctx, tx, []*logChain{s.mailboxChain(cur.ID, s.now(), signing.MailboxEntry{
						Event: signing.EventMailboxDeactivated, How: "address-rules", AuthorizedBy: fmt.Sprintf("address-rules/%d", AddressRules)})})
				}
			}()
		}
		cur.Status, cur.ActivatedAt, cur.AddressRules = StatusPending, time.Time{}, AddressRules
		if letter != nil {
			others, err := tx.MailboxesByMatchKey(ctx, corrected.MatchKey())
			if err != nil {
				return err
			}
			for _, o := range others {
				if o.ID != cur.ID && o.Kind == cur.Kind && o.HolderKey == cur.HolderKey {
					letter = nil // the holder's other mailbox is there already
				}
			}
		}
		if letter == nil {
			// Nobody knows this code: only a counter verification activates.
			var void [32]byte
			if _, err := rand.Read(void[:]); err != nil {
				return err
			}
			cur.ActivationHash, cur.Attempts = void[:], s.cfg.Limits.MaxActivationTries
			return tx.ReaddressMailbox(ctx, cur)
		}
		js, err := json.Marshal(corrected)
		if err != nil {
			return err
		}
		cur.Address, cur.AddressJSON, cur.MatchKey, cur.Postcode = corrected.String(), js, corrected.MatchKey(), corrected.Postcode
		cur.ActivationHash, cur.Attempts = letter.hash, 0
		if err := tx.ReaddressMailbox(ctx, cur); err != nil {
			return err
		}
		return s.queueActivationLetter(ctx, tx, *letter)
	})
	if err != nil {
		return false, err
	}
	if letter != nil {
		s.sendActivationCode(m.ID, letter.code)
	}
	// The address itself stays out of the log: it is personal data.
	s.log.WarnContext(ctx, "mailbox address fails the address rules: mailbox set pending",
		"mailbox", m.ID, "was", m.Status, "rules", AddressRules, "new_letter", letter != nil)
	return true, nil
}
