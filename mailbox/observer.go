package mailbox

import (
	"context"
	"errors"
	"time"
)

// Observer is told what an operator counts and times: commits, seals,
// accepted letters and refused submissions. The core calls it inline, so an
// implementation must be cheap and must not block; internal/app implements
// it with Prometheus metrics. Labels it receives are bounded sets: routes,
// channels and refusal reasons (see RefusalReason).
type Observer interface {
	// CommitBatch reports one group-commit transaction: how many
	// submissions it carried and how long it took, fsync included.
	CommitBatch(size int, d time.Duration)
	// Sealed reports the signing of one evidence envelope.
	Sealed(d time.Duration)
	// LogPrediction reports an append sealed ahead of the log head lock:
	// whether its predicted log index held (hit) or it was sealed again
	// under the lock (see logOrder). Misses mean other processes append
	// between this one's appends, or appends roll back.
	LogPrediction(hit bool)
	// LetterAccepted reports a letter committed (not an idempotent
	// replay), by route and by the channel it came through.
	LetterAccepted(route, channel string)
	// SubmissionRefused reports a submission refused, by reason.
	SubmissionRefused(reason string)
}

// Channels a letter is submitted through (the label of accepted letters).
const (
	ChannelAPI  = "api"
	ChannelSMTP = "smtp"
	ChannelWeb  = "web"
)

// nopObserver is the default: nothing is observed.
type nopObserver struct{}

func (nopObserver) CommitBatch(int, time.Duration) {}
func (nopObserver) Sealed(time.Duration)           {}
func (nopObserver) LogPrediction(bool)             {}
func (nopObserver) LetterAccepted(string, string)  {}
func (nopObserver) SubmissionRefused(string)       {}

// RefusalCoder is implemented by adapters' own refusals (an SMTP gateway's
// bare-LF refusal, say) to give their reason label.
type RefusalCoder interface {
	RefusalCode() string
}

// RefusalReason is the reason label of a refused submission: the domain
// error's code ("bad_address", "body_too_large"), an adapter refusal's code,
// or one of unavailable, rate_limited, timeout, canceled, internal. The set
// is bounded: codes are constants of the code base, and anything that is not
// a short lower-case word is reported as "other", so a label can never carry
// client input.
func RefusalReason(err error) string {
	var de *Error
	var rc RefusalCoder
	var code string
	switch {
	case errors.As(err, &de):
		code = de.Code
	case errors.As(err, &rc):
		code = rc.RefusalCode()
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "internal"
	}
	if !isLabelWord(code) {
		return "other"
	}
	return code
}

// isLabelWord reports a short [a-z0-9_] word.
func isLabelWord(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// SubmissionRefused counts a submission that an adapter refused before it
// reached Submit (a malformed request or message); Submit counts its own.
func (s *Service) SubmissionRefused(err error) {
	s.obs.SubmissionRefused(RefusalReason(err))
}

// channelLabel bounds the channel label to the known channels.
func channelLabel(c string) string {
	switch c {
	case ChannelAPI, ChannelSMTP, ChannelWeb:
		return c
	}
	return "other"
}
