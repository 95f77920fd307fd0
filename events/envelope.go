package events

import (
	"encoding/json"
	"time"
)

// Event is an event about to be appended: the payload already encoded, with
// its identity and metadata. Stream, revision and position are assigned by
// the store.
type Event struct {
	// ID is the event's UUID (version 7). Appending the same ID twice is a
	// no-op, which makes retried appends idempotent.
	ID string
	// Type is the stable event type name, e.g. "StepStarted".
	Type string
	// Version is the schema version of Type the payload is encoded in.
	Version int
	// Data is the JSON-encoded payload.
	Data json.RawMessage
	// Metadata describes who caused the event and links it to others.
	Metadata Metadata
}

// Recorded is an event as read back from a store.
type Recorded struct {
	ID         string
	Type       string
	Version    int
	Stream     string
	Revision   uint64
	Position   Position
	RecordedAt time.Time
	Data       json.RawMessage
	Metadata   Metadata
}

// Metadata travels with every event. It is stored as JSON next to the data.
type Metadata struct {
	// Actor is who caused the event: "user:alice", "token:ci-bot",
	// "webhook:github", "component:scheduler".
	Actor string `json:"actor,omitempty"`
	// CorrelationID groups every event caused by one request or run.
	CorrelationID string `json:"correlationId,omitempty"`
	// CausationID is the ID of the event or command that caused this one.
	CausationID string `json:"causationId,omitempty"`
	// Host is the machine the writer ran on.
	Host string `json:"host,omitempty"`
	// PrevHash is the Hash of the previous event in the same stream.
	PrevHash string `json:"prevHash,omitempty"`
	// Hash is the hex SHA-256 over the event's content and PrevHash; see
	// ContentHash.
	Hash string `json:"hash,omitempty"`
	// ImportedFrom names the system an imported event was read from
	// ("hydra"); empty for history recorded here. An auditor tells
	// imported history from recorded history by it.
	ImportedFrom string `json:"importedFrom,omitempty"`
	// Source is the imported row the event was made from, as
	// "<table>:<key>" in the system ImportedFrom names.
	Source string `json:"source,omitempty"`
	// OccurredAt is when an imported event happened in its source
	// system (RFC 3339, UTC); the store's recording time is the import's.
	OccurredAt string `json:"occurredAt,omitempty"`
}

// Imported reports whether the event was imported from another system.
func (m Metadata) Imported() bool {
	return m.ImportedFrom != "" || m.Source != "" || m.OccurredAt != ""
}

// Position is a place in the whole log. The Postgres log uses a gapless
// integer and sets Commit and Prepare to the same value; EventStoreDB uses
// its (commit, prepare) pair. The zero Position is Start: the place before
// the first event.
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Start is the position before the first event of the log.
var Start = Position{}

// IsStart reports whether p is Start.
func (p Position) IsStart() bool { return p == Start }

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// At returns the position of a log whose positions are single integers.
func At(n uint64) Position { return Position{Commit: n, Prepare: n} }
