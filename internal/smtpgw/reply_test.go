package smtpgw

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/npes/npes/mailbox"
)

func TestReplyFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		code     int
		enh      smtp.EnhancedCode
		contains string
		internal bool
	}{
		{"refusal", refuse(ErrSender, 553, enhNotAuthz, "not yours"), 553, enhNotAuthz, "not yours", false},
		{"go-smtp size", smtp.ErrDataTooLarge, 552, enhTooBig, "", false},
		{"bad address", mailbox.Errorf(mailbox.ErrInvalid, "bad_address", "no street in %q", "x"), 550, enhBadDestAddr, `no street in "x" (bad_address)`, false},
		{"invalid", fmt.Errorf("wrapped: %w", mailbox.Errorf(mailbox.ErrInvalid, "bad_subject", "subject too long")), 550, enhMedia, "subject too long", false},
		{"too large", mailbox.Errorf(mailbox.ErrTooLarge, "attachments_too_large", "too big"), 552, enhTooBig, "too big", false},
		{"forbidden", mailbox.Errorf(mailbox.ErrForbidden, "no_active_mailbox", "register"), 550, enhNotAuthz, "register", false},
		{"conflict", mailbox.Errorf(mailbox.ErrConflict, "idempotency_key_reused", "other letter"), 554, enhMedia, "other letter", false},
		{"store unavailable", fmt.Errorf("tx: %w", mailbox.ErrUnavailable), 451, enhTempSystem, "", false},
		{"deadline", fmt.Errorf("submit: %w", context.DeadlineExceeded), 451, enhTempTimeout, "", false},
		{"net timeout", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), 451, enhTempTimeout, "", false},
		{"internal", errors.New("pq: password authentication failed for user npes at 10.0.0.5"), 554, enhInternal, "Internal error", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, ref, internal := replyFor(tc.err)
			if r.Code != tc.code || r.EnhancedCode != tc.enh || internal != tc.internal || !strings.Contains(r.Message, tc.contains) {
				t.Fatalf("%d %v %q internal=%v", r.Code, r.EnhancedCode, r.Message, internal)
			}
			if internal && (ref == "" || !strings.Contains(r.Message, ref) || strings.Contains(r.Message, "password") || strings.Contains(r.Message, "10.0.0.5")) {
				t.Fatalf("internal reply %q (ref %q) leaks or lacks the reference", r.Message, ref)
			}
		})
	}
}
