package mailbox

// SetBatchCrash installs the batch workers' crash hook (batchCrash).
func SetBatchCrash(s *Service, fn func(recorded int) bool) { s.batchCrash = fn }

// LogOrderStats reports how many appends sealed ahead of the log head lock
// found their predicted log index (hits) and how many sealed again
// (misses).
func LogOrderStats(s *Service) (hits, misses uint64) {
	return s.logOrder.hits.Load(), s.logOrder.misses.Load()
}

// FrontierStats counts the appends that found the log head as the
// service's last append left it (no node read) and those that did not.
func FrontierStats(s *Service) (hits, misses uint64) {
	return s.frontier.hits.Load(), s.frontier.misses.Load()
}

// SetSubmitted installs a hook that sees every letter Submit or a batch
// line committed, with how many inclusion proofs the commit computed for
// its evidence (the receipt's, under the log head lock).
func SetSubmitted(s *Service, fn func(letterID string, proofs int)) {
	s.submitted = func(it *batchItem) { fn(it.l.ID, len(it.chain.proofs)) }
}
