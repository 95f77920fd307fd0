package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	// encoding/json/v2 (experimental in Go 1.26): decoding a replay's
	// payloads is 3 times as fast as with encoding/json, with a seventh of
	// the allocations. Encoding stays on encoding/json, which is faster at it.
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Payload is the body of an event: one of the types declared in this
// package (or registered by an extension).
type Payload interface {
	// EventType returns the stable type name, e.g. "BuildQueued".
	EventType() string
}

// Upcaster turns the JSON of one schema version into the JSON of the next.
type Upcaster func(old json.RawMessage) (json.RawMessage, error)

// Errors returned by Codec.Decode, wrapped with the event's id and type.
var (
	// ErrUnknownType means no payload type is registered under the name.
	// Consumers should skip (and count) such events rather than stop.
	ErrUnknownType = errors.New("unknown event type")
	// ErrMalformed means the payload does not decode into its type.
	ErrMalformed = errors.New("malformed event payload")
	// ErrFutureVersion means the event was written by a newer schema
	// version than this binary knows.
	ErrFutureVersion = errors.New("event schema version newer than supported")
)

// Codec encodes payloads into events and decodes recorded events back,
// upcasting old schema versions. A Codec is built once and passed as a
// value; there is no global registry.
type Codec struct {
	types map[string]*typeInfo
	// decoding are the options of jsonv2.Unmarshal: as lenient as
	// encoding/json on what the log may hold (duplicate names, invalid
	// UTF-8), but matching names exactly, as encoding/json wrote them.
	decoding jsonv2.Options
}

type typeInfo struct {
	version   int
	make      func() Payload
	upcasters map[int]Upcaster // from version → to version+1
}

// NewCodec returns a Codec that knows every event type of this package.
func NewCodec() *Codec {
	c := &Codec{types: make(map[string]*typeInfo),
		decoding: jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))}
	for _, t := range builtinTypes() {
		c.Register(t.version, t.make)
	}
	registerUpcasters(c)
	return c
}

type builtin struct {
	version int
	make    func() Payload
}

// Register adds a payload type at its current schema version. It panics if
// the type name is registered twice: that is a wiring bug.
func (c *Codec) Register(version int, make func() Payload) {
	name := make().EventType()
	if _, dup := c.types[name]; dup {
		panic(fmt.Sprintf("events: type %q registered twice", name))
	}
	if version < 1 {
		panic(fmt.Sprintf("events: type %q: version %d < 1", name, version))
	}
	c.types[name] = &typeInfo{version: version, make: make, upcasters: map[int]Upcaster{}}
}

// RegisterUpcaster adds the step that turns version from of typ into
// version from+1.
func (c *Codec) RegisterUpcaster(typ string, from int, up Upcaster) {
	ti, ok := c.types[typ]
	if !ok {
		panic(fmt.Sprintf("events: upcaster for unregistered type %q", typ))
	}
	ti.upcasters[from] = up
}

// Types returns the registered type names with their current versions,
// sorted by name.
func (c *Codec) Types() []TypeVersion {
	out := make([]TypeVersion, 0, len(c.types))
	for n, ti := range c.types {
		out = append(out, TypeVersion{Type: n, Version: ti.version})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// TypeVersion names a type and a schema version.
type TypeVersion struct {
	Type    string
	Version int
}

// Known reports whether typ is registered.
func (c *Codec) Known(typ string) bool { _, ok := c.types[typ]; return ok }

// Encode wraps p into an Event with a fresh id.
func (c *Codec) Encode(p Payload, md Metadata, now time.Time) (Event, error) {
	name := p.EventType()
	ti, ok := c.types[name]
	if !ok {
		return Event{}, fmt.Errorf("encode %s: %w", name, ErrUnknownType)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s: %w", name, err)
	}
	return Event{ID: NewID(now), Type: name, Version: ti.version, Data: data, Metadata: md}, nil
}

// Decode returns the payload of r at the current schema version, as a
// pointer to its type (*BuildQueued, …).
func (c *Codec) Decode(r Recorded) (Payload, error) {
	ti, ok := c.types[r.Type]
	if !ok {
		return nil, fmt.Errorf("decode event %s at %s@%d: %w %q", r.ID, r.Stream, r.Revision, ErrUnknownType, r.Type)
	}
	data := r.Data
	if r.Version > ti.version {
		return nil, fmt.Errorf("decode event %s (%s v%d): %w (knows v%d)", r.ID, r.Type, r.Version, ErrFutureVersion, ti.version)
	}
	for v := r.Version; v < ti.version; v++ {
		up, ok := ti.upcasters[v]
		if !ok {
			return nil, fmt.Errorf("decode event %s (%s v%d): %w: no upcaster from v%d", r.ID, r.Type, r.Version, ErrMalformed, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("decode event %s (%s): upcast v%d: %w: %v", r.ID, r.Type, v, ErrMalformed, err)
		}
	}
	p := ti.make()
	if err := jsonv2.Unmarshal(data, p, c.decoding); err != nil {
		return nil, fmt.Errorf("decode event %s (%s v%d): %w: %v", r.ID, r.Type, r.Version, ErrMalformed, err)
	}
	return p, nil
}
