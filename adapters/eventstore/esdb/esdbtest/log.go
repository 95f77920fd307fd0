package esdbtest

import (
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// record is one event in the double's log.
type record struct {
	id       uuid.UUID
	stream   string
	revision uint64
	commit   uint64
	prepare  uint64
	meta     map[string]string
	custom   []byte
	data     []byte
}

func (r *record) less(commit, prepare uint64) bool {
	if r.commit != commit {
		return r.commit < commit
	}
	return r.prepare < prepare
}

// eventLog is the in-memory transaction log: every event in $all order,
// with per-stream and per-id indexes. changed is closed and replaced on
// every append to wake subscriptions.
type eventLog struct {
	mu      sync.Mutex
	events  []*record
	streams map[string][]int // stream -> indexes into events, by revision
	ids     map[uuid.UUID]int
	next    uint64 // next prepare position
	changed chan struct{}
}

func newEventLog() *eventLog {
	// A real log starts with epoch and system records, so positions of the
	// first events are well above zero.
	return &eventLog{streams: map[string][]int{}, ids: map[uuid.UUID]int{}, next: 4096, changed: make(chan struct{})}
}

// proposed is an event about to be appended.
type proposed struct {
	id     uuid.UUID
	meta   map[string]string
	custom []byte
	data   []byte
}

// expectation is an append's expected revision.
type expectation struct {
	kind  int // expectAny, expectNoStream, expectExists, expectExact
	exact uint64
}

const (
	expectAny = iota
	expectNoStream
	expectExists
	expectExact
)

// appendOutcome is what an append did.
type appendOutcome struct {
	ok               bool
	revision         uint64 // last revision, when ok
	commit, prepare  uint64
	currentExists    bool // for wrong expected version
	currentRevision  uint64
	idempotentReplay bool
}

// append applies the server's CheckCommit rules and writes evs if allowed.
func (l *eventLog) append(stream string, exp expectation, evs []proposed, now time.Time) appendOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[stream]
	exists := len(idx) > 0
	var cur uint64
	if exists {
		cur = uint64(len(idx) - 1)
	}
	wrong := appendOutcome{currentExists: exists, currentRevision: cur}
	if exists {
		if out, decided := l.idempotency(stream, idx, exp, evs); decided {
			if !out.ok {
				return wrong
			}
			return out
		}
	}
	switch exp.kind {
	case expectNoStream:
		if exists {
			return wrong
		}
	case expectExists:
		if !exists {
			return wrong
		}
	case expectExact:
		if !exists || cur != exp.exact {
			return wrong
		}
	}
	first := uint64(0)
	if exists {
		first = cur + 1
	}
	commit := l.next
	ticks := strconv.FormatInt(now.UnixNano()/100, 10)
	var last *record
	for i, ev := range evs {
		meta := make(map[string]string, len(ev.meta)+1)
		for k, v := range ev.meta {
			meta[k] = v
		}
		meta["created"] = ticks
		r := &record{id: ev.id, stream: stream, revision: first + uint64(i), commit: commit, prepare: l.next, meta: meta, custom: ev.custom, data: ev.data}
		l.next += uint64(96 + len(stream) + len(ev.data) + len(ev.custom) + len(meta["type"]))
		l.events = append(l.events, r)
		l.streams[stream] = append(l.streams[stream], len(l.events)-1)
		l.ids[ev.id] = len(l.events) - 1
		last = r
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return appendOutcome{ok: true, revision: last.revision, commit: last.commit, prepare: last.prepare}
}

// idempotency mirrors the server: decided is true when the ids settle the
// outcome (a replay, or a corrupted replay reported as wrong version).
func (l *eventLog) idempotency(stream string, idx []int, exp expectation, evs []proposed) (appendOutcome, bool) {
	cur := uint64(len(idx) - 1)
	replay := func(lastRev uint64) appendOutcome {
		r := l.events[idx[lastRev]]
		return appendOutcome{ok: true, revision: lastRev, commit: r.commit, prepare: r.prepare, idempotentReplay: true}
	}
	switch exp.kind {
	case expectAny, expectExists:
		var lastRev uint64
		for i, ev := range evs {
			at, found := l.ids[ev.id]
			if !found || l.events[at].stream != stream {
				if i == 0 {
					return appendOutcome{}, false
				}
				return appendOutcome{}, true // corrupted idempotency
			}
			lastRev = l.events[at].revision
		}
		if len(evs) == 0 {
			return appendOutcome{}, false
		}
		return replay(lastRev), true
	}
	// No stream (as -1) or an exact revision below the current one.
	var after int64 = -1
	if exp.kind == expectExact {
		after = int64(exp.exact)
	}
	if after >= int64(cur) {
		return appendOutcome{}, false
	}
	rev := after
	for i, ev := range evs {
		rev++
		if rev <= int64(cur) && l.events[idx[rev]].id == ev.id {
			continue
		}
		if i == 0 {
			return appendOutcome{}, true // plain wrong expected version
		}
		return appendOutcome{}, true // corrupted idempotency
	}
	if len(evs) == 0 {
		return appendOutcome{}, true
	}
	return replay(uint64(rev)), true
}

// snapshot returns the events in $all order and the channel closed on the
// next append.
func (l *eventLog) snapshot() ([]*record, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events[:len(l.events):len(l.events)], l.changed
}

// stream returns the events of stream by revision.
func (l *eventLog) stream(name string) []*record {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[name]
	out := make([]*record, len(idx))
	for i, j := range idx {
		out[i] = l.events[j]
	}
	return out
}
