package evaluation

import (
	"context"
	"errors"
	"fmt"

	"buildledger/domain/streams"
	"buildledger/events"
)

// keptEvals is how many evaluations' builds a Service keeps in memory.
const keptEvals = 16

// previousBuilds returns the builds of evaluation evalID by member key,
// from memory or from its stream.
func (s *Service) previousBuilds(ctx context.Context, evalID int64) (map[string]prevBuild, error) {
	if evalID == 0 {
		return nil, nil
	}
	s.mu.Lock()
	m, ok := s.prev[evalID]
	s.mu.Unlock()
	if ok {
		return m, nil
	}
	m = make(map[string]prevBuild)
	// A job can be recorded more than once in a stream: the evaluator
	// records jobs while Nix evaluates, and a job Nix's final result
	// reports differently is recorded again or, when its name collides
	// with another attribute's, fails. The last record of a job wins.
	keyOf := make(map[string]string)
	stream := streams.Eval(evalID)
	for from := uint64(0); ; {
		recs, err := s.rt.Store().ReadStream(ctx, stream, from, 1000)
		if errors.Is(err, events.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read builds of eval %d: %w", evalID, err)
		}
		for _, r := range recs {
			from = r.Revision + 1
			if r.Type != "JobEvaluated" && r.Type != "JobEvaluationFailed" {
				continue
			}
			p, err := s.codec.Decode(r)
			if err != nil {
				return nil, fmt.Errorf("read builds of eval %d: %w", evalID, err)
			}
			switch j := p.(type) {
			case *events.JobEvaluated:
				delete(m, keyOf[j.Job])
				k := memberKey(j.Job, j.Outputs, j.DrvPath)
				keyOf[j.Job], m[k] = k, prevBuild{build: j.BuildID, drvPath: j.DrvPath}
			case *events.JobEvaluationFailed:
				delete(m, keyOf[j.Job])
				delete(keyOf, j.Job)
			}
		}
		if len(recs) < 1000 {
			break
		}
	}
	s.store(evalID, m)
	return m, nil
}

// remember keeps the builds of a finished evaluation for the next one.
func (s *Service) remember(evalID int64, ms []member) {
	m := make(map[string]prevBuild, len(ms))
	for _, x := range ms {
		m[memberKey(x.job.Name, x.job.Outputs, x.job.DrvPath)] = prevBuild{build: x.build, drvPath: x.job.DrvPath}
	}
	s.store(evalID, m)
}

func (s *Service) store(evalID int64, m map[string]prevBuild) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.prev) >= keptEvals {
		oldest := evalID
		for id := range s.prev {
			oldest = min(oldest, id)
		}
		delete(s.prev, oldest)
	}
	s.prev[evalID] = m
}
