package scheduler

// Peek does in memory what a pass at now would, recording nothing: it
// takes the due follow-ups, evicts and decides. It returns them with the
// model's status after them, for tests that compare two schedulers.
func (s *Scheduler) Peek(now int64) ([]Action, []Decision, Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acts := s.model.Actions(now)
	s.model.Evict(now)
	ds := s.model.Decide(now, 0)
	return acts, ds, s.model.Status()
}
