package events

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// ChainLink is a recorded event as the hash chain sees it, every field as
// the store holds it: what a ChainReader streams. Its byte slices may
// share one buffer with other links of the same batch.
type ChainLink struct {
	Position Position
	ID       []byte
	Type     []byte
	Version  int
	Stream   []byte
	Revision uint64
	// Data is the payload, byte for byte as stored.
	Data []byte
	// Metadata is the metadata as stored: Metadata's JSON object.
	Metadata []byte
}

// ChainReader is implemented by stores that can stream the whole log in
// one read, faster than ReadAll page by page. VerifyLog uses it when the
// store has it.
type ChainReader interface {
	// ReadChain calls fn with the events of the log from the first, in log
	// order and in batches, up to and including the event at until (to the
	// end of the log when until is Start). fn may keep its batch: the store
	// never reuses it. An error from fn ends the read, and ReadChain
	// returns it.
	ReadChain(ctx context.Context, until Position, fn func([]ChainLink) error) error
}

// chainMeta is the part of an event's metadata the hash chain covers, and
// its hash.
type chainMeta struct {
	actor, correlationID, causationID, host, prevHash, hash []byte
	importedFrom, source, occurredAt                        []byte
}

// decodeChainMeta decodes the chain fields of the metadata JSON raw to
// exactly what json.Unmarshal into a Metadata gives, or fails as it does.
// The usual object (Metadata's own keys, each at most once, each with a
// string of ASCII text without escapes) is scanned in place; anything
// else is left to json.Unmarshal.
func decodeChainMeta(raw []byte) (chainMeta, error) {
	if m, ok := scanChainMeta(raw); ok {
		return m, nil
	}
	md, err := unmarshalMetadata(raw)
	if err != nil {
		return chainMeta{}, err
	}
	return chainMeta{
		actor: []byte(md.Actor), correlationID: []byte(md.CorrelationID), causationID: []byte(md.CausationID),
		host: []byte(md.Host), prevHash: []byte(md.PrevHash), hash: []byte(md.Hash),
		importedFrom: []byte(md.ImportedFrom), source: []byte(md.Source), occurredAt: []byte(md.OccurredAt),
	}, nil
}

// ParseMetadata decodes an event's metadata JSON to exactly what
// json.Unmarshal into a Metadata gives, or fails as it does; the usual
// object (see decodeChainMeta) is scanned in place, several times faster.
func ParseMetadata(raw []byte) (Metadata, error) {
	if m, ok := scanChainMeta(raw); ok {
		return m.metadata(), nil
	}
	return unmarshalMetadata(raw)
}

func unmarshalMetadata(raw []byte) (Metadata, error) {
	var md Metadata
	if err := json.Unmarshal(raw, &md); err != nil {
		return Metadata{}, err
	}
	return md, nil
}

// metadata returns m as a Metadata.
func (m chainMeta) metadata() Metadata {
	return Metadata{Actor: string(m.actor), CorrelationID: string(m.correlationID), CausationID: string(m.causationID),
		Host: string(m.host), PrevHash: string(m.prevHash), Hash: string(m.hash),
		ImportedFrom: string(m.importedFrom), Source: string(m.source), OccurredAt: string(m.occurredAt)}
}

// scanChainMeta decodes raw when it is the usual object (see
// decodeChainMeta); ok is false for anything else, valid JSON or not.
func scanChainMeta(raw []byte) (m chainMeta, ok bool) {
	i := skipJSONSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return m, false
	}
	i = skipJSONSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return m, skipJSONSpace(raw, i+1) == len(raw)
	}
	for {
		key, j, ok := plainJSONString(raw, i)
		if !ok {
			return m, false
		}
		i = skipJSONSpace(raw, j)
		if i == len(raw) || raw[i] != ':' {
			return m, false
		}
		val, j, ok := plainJSONString(raw, skipJSONSpace(raw, i+1))
		if !ok {
			return m, false
		}
		f := m.field(key)
		if f == nil || *f != nil {
			// Another key, a key in other case, or a repeated key:
			// json.Unmarshal's rules decide.
			return m, false
		}
		*f = val
		i = skipJSONSpace(raw, j)
		if i == len(raw) {
			return m, false
		}
		switch raw[i] {
		case ',':
			i = skipJSONSpace(raw, i+1)
		case '}':
			return m, skipJSONSpace(raw, i+1) == len(raw)
		default:
			return m, false
		}
	}
}

// field returns where the value of Metadata's JSON key goes, or nil.
func (m *chainMeta) field(key []byte) *[]byte {
	switch string(key) {
	case "actor":
		return &m.actor
	case "correlationId":
		return &m.correlationID
	case "causationId":
		return &m.causationID
	case "host":
		return &m.host
	case "prevHash":
		return &m.prevHash
	case "hash":
		return &m.hash
	case "importedFrom":
		return &m.importedFrom
	case "source":
		return &m.source
	case "occurredAt":
		return &m.occurredAt
	}
	return nil
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainJSONString reads the JSON string starting at b[i] when it holds
// only ASCII text (no control characters) and no escapes, which then are its value's bytes.
// next is the index after its closing quote.
func plainJSONString(b []byte, i int) (s []byte, next int, ok bool) {
	if i == len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// HashedLinks is a batch of ChainLinks with their content hashed: the
// costly part of checking a chain, which may run on any goroutine. The
// batch is then checked in log order (ChainVerifier.AddHashed).
type HashedLinks struct {
	links  []ChainLink
	sealed []sealedLink[[]byte]
	// bad is the index of the first link whose metadata does not decode
	// (err says why), or len(links).
	bad int
	err error
}

// HashLinks decodes the metadata of links and hashes their content, up to
// the first link whose metadata does not decode. buf is scratch space,
// returned for the next call.
func HashLinks(links []ChainLink, buf []byte) (*HashedLinks, []byte) {
	b := &HashedLinks{links: links, sealed: make([]sealedLink[[]byte], len(links)), bad: len(links)}
	for i := range links {
		l := &links[i]
		md, err := decodeChainMeta(l.Metadata)
		if err != nil {
			b.bad, b.err = i, fmt.Errorf("event %s at position %d: metadata: %w", l.ID, l.Position.Commit, err)
			break
		}
		buf = appendContent(buf[:0], l.ID, l.Type, l.Version, l.Stream, l.Revision, l.Data, md.actor, md.correlationID, md.causationID, md.host, md.prevHash,
			origin[[]byte]{md.importedFrom, md.source, md.occurredAt})
		b.sealed[i] = sealedLink[[]byte]{pos: l.Position, stream: l.Stream, id: l.ID, revision: l.Revision, prevHash: md.prevHash, hash: md.hash, sum: sha256.Sum256(buf)}
	}
	return b, buf
}

// AddHashed checks the links of h in order and folds them into v,
// stopping before the first that lies after until (unless until is
// Start). It returns the first break, whether to stop (a break, or until
// passed), and an error for a link whose metadata does not decode.
func (v *ChainVerifier) AddHashed(h *HashedLinks, until Position) (br *Break, stop bool, err error) {
	for i := range h.sealed {
		if !until.IsStart() && until.Less(h.links[i].Position) {
			return nil, true, nil
		}
		if i == h.bad {
			return nil, true, h.err
		}
		if br := addLink(v, &h.sealed[i]); br != nil {
			return br, true, nil
		}
	}
	return nil, false, nil
}
