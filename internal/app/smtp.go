package app

import "context"

// startSMTP starts the SMTP gateway listeners (issue 6 replaces this).
func (s *Server) startSMTP(ctx context.Context) error { return nil }

// stopSMTP stops them.
func (s *Server) stopSMTP(ctx context.Context) error { return nil }
