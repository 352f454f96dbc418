package mailbox

// SetBatchCrash installs the batch workers' crash hook (batchCrash).
func SetBatchCrash(s *Service, fn func(recorded int) bool) { s.batchCrash = fn }
