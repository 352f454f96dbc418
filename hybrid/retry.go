package hybrid

import (
	"context"
	"strconv"
	"time"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Retry puts a failed print job back into the queue: a job that died after
// its last attempt (state dead, or failed) becomes queued, available now,
// with a new round of attempts. The print centre of the job's region or an
// operator may retry it; a letter job's letter (print_dead) returns to
// print_queued through PrintRetried evidence in its chain, so the sender
// sees the second round and npes audit finds the job's state explained.
// The API (POST /v1/print/jobs/{id}/retry) and the print centre's console
// both call it.
func (q *Queue) Retry(ctx context.Context, c mailbox.Caller, id string) (mailbox.PrintJob, error) {
	operator := c.Identity.Role == mailbox.RoleOperator
	if !operator {
		if _, err := centre(c); err != nil {
			return mailbox.PrintJob{}, err
		}
	}
	res, err := q.svc.ChangePrintJobs(ctx, []string{id}, true, func(_ int, j mailbox.PrintJob, found bool, letterState string) (mailbox.JobChange, error) {
		if operator && !found {
			return mailbox.JobChange{}, notFound()
		}
		if !operator {
			if err := inRegions(c, j, found); err != nil {
				return mailbox.JobChange{}, err
			}
		}
		if j.State != mailbox.JobDead && j.State != mailbox.JobFailed {
			return mailbox.JobChange{Job: j}, mailbox.Errorf(mailbox.ErrConflict, "not_failed", "only a failed print job is retried; the job is %s", j.State)
		}
		if j.Kind == mailbox.JobLetter && letterState != mailbox.StatePrintDead {
			return mailbox.JobChange{Job: j}, mailbox.Errorf(mailbox.ErrConflict, "invalid_transition", "the job's letter is %s, not %s", letterState, mailbox.StatePrintDead)
		}
		attempts := j.Attempts
		ch := mailbox.JobChange{Job: j, Write: true}
		nj := &ch.Job
		nj.State, nj.Attempts, nj.AvailableAt = mailbox.JobQueued, 0, q.svc.Now()
		nj.LeaseOwner, nj.LeaseExpiresAt = "", time.Time{}
		letterEvent(&ch, signing.EventPrintRetried, map[string]string{
			"attempts": strconv.Itoa(attempts),
			"by_role":  string(c.Identity.Role),
		})
		return ch, nil
	})
	if err != nil {
		return mailbox.PrintJob{}, err
	}
	return res[0].Job, res[0].Err
}
