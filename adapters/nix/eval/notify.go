package eval

import (
	"strings"
	"sync"

	"buildledger/commands/evaluation"
)

// notifier passes jobs to Request.OnJob while backends report them: on a
// goroutine of its own, one at a time in the order reported, each attribute
// path at most once. Its queue has no bound, so a slow OnJob never holds up
// Nix.
type notifier struct {
	onJob func(evaluation.Job)
	done  chan struct{}

	mu     sync.Mutex
	wake   *sync.Cond
	queue  []evaluation.Job
	seen   map[string]bool
	closed bool
}

func startNotifier(onJob func(evaluation.Job)) *notifier {
	n := &notifier{onJob: onJob, done: make(chan struct{}), seen: map[string]bool{}}
	n.wake = sync.NewCond(&n.mu)
	go n.loop()
	return n
}

// add queues the job of rec unless rec is an error, an aggregate, the top
// level or an attribute path queued before. A nil notifier ignores rec.
func (n *notifier) add(rec record) {
	name := rec.jobName()
	if n == nil || rec.Err != "" || rec.IsAggregate || name == "" {
		return
	}
	key := rec.Name + "\x00" + strings.Join(rec.Path, "\x00")
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen[key] {
		return
	}
	n.seen[key] = true
	n.queue = append(n.queue, rec.job(name, nil))
	n.wake.Signal()
}

func (n *notifier) loop() {
	defer close(n.done)
	for {
		n.mu.Lock()
		for len(n.queue) == 0 && !n.closed {
			n.wake.Wait()
		}
		batch := n.queue
		n.queue = nil
		n.mu.Unlock()
		if len(batch) == 0 {
			return // closed and drained
		}
		for _, j := range batch {
			n.onJob(j)
		}
	}
}

// close waits until every queued job has been passed to OnJob.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.wake.Signal()
	n.mu.Unlock()
	<-n.done
}
