package mailbox

// SetBatchCrash installs the batch workers' crash hook (batchCrash).
func SetBatchCrash(s *Service, fn func(recorded int) bool) { s.batchCrash = fn }

// LogOrderStats reports how many appends sealed ahead of the log head lock
// found their predicted log index (hits) and how many sealed again
// (misses).
func LogOrderStats(s *Service) (hits, misses uint64) {
	return s.logOrder.hits.Load(), s.logOrder.misses.Load()
}
