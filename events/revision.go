package events

import "fmt"

// Revision is the state a stream is expected to be in when appending.
type Revision struct {
	kind  revisionKind
	exact uint64
}

type revisionKind uint8

const (
	anyRevision revisionKind = iota
	noStream
	streamExists
	exactRevision
)

var (
	// Any appends whatever state the stream is in.
	Any = Revision{kind: anyRevision}
	// NoStream appends only if the stream has no events yet.
	NoStream = Revision{kind: noStream}
	// StreamExists appends only if the stream has at least one event.
	StreamExists = Revision{kind: streamExists}
)

// Exact appends only if the stream's last event has revision n
// (revisions count from 0).
func Exact(n uint64) Revision { return Revision{kind: exactRevision, exact: n} }

// IsAny, IsNoStream, IsStreamExists report the kind of r.
func (r Revision) IsAny() bool          { return r.kind == anyRevision }
func (r Revision) IsNoStream() bool     { return r.kind == noStream }
func (r Revision) IsStreamExists() bool { return r.kind == streamExists }

// Exact returns the exact revision and true if r is an exact revision.
func (r Revision) Exact() (uint64, bool) { return r.exact, r.kind == exactRevision }

// Accepts reports whether a stream whose last revision is last (exists is
// false for a stream with no events) satisfies r.
func (r Revision) Accepts(last uint64, exists bool) bool {
	switch r.kind {
	case noStream:
		return !exists
	case streamExists:
		return exists
	case exactRevision:
		return exists && last == r.exact
	}
	return true
}

// String returns "any", "no-stream", "stream-exists" or the number.
func (r Revision) String() string {
	switch r.kind {
	case noStream:
		return "no-stream"
	case streamExists:
		return "stream-exists"
	case exactRevision:
		return fmt.Sprint(r.exact)
	}
	return "any"
}
