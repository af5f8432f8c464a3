package boltstore

// Commits returns how many bbolt write transactions s has committed.
func Commits(s *Store) int64 { return s.commits.Load() }

// Queued returns how many Update calls wait in s's queue.
func Queued(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}
