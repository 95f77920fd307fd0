package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// chainDomain starts every hashed encoding, so a hash of an event can never
// be confused with a hash of anything else.
const chainDomain = "buildledger-event-v1"

// ContentHash returns the hex SHA-256 of an event's canonical encoding: the
// domain string, then id, type, version, stream, revision, the data bytes
// exactly as stored, and the metadata fields actor, correlationId,
// causationId, host and prevHash, and, only for an imported event (one with
// importedFrom, source or occurredAt set), the marker "imported" followed
// by those three. Hash itself is left out. Events recorded here thus hash
// as they did before imports existed, and an imported event's origin
// cannot be changed without breaking the chain. Every string is
// written as its length (8 bytes, big endian) followed by its bytes, and
// numbers as 8 bytes big endian, so no two different events encode alike.
// The position and the recording time are not covered: they are the
// store's, and the running head hash (HeadHash) covers the order.
func ContentHash(id, typ string, version int, stream string, revision uint64, data []byte, md Metadata) string {
	var buf [512]byte
	sum := sha256.Sum256(appendContent(buf[:0], id, typ, version, stream, revision, data, md.Actor, md.CorrelationID, md.CausationID, md.Host, md.PrevHash,
		origin[string]{md.ImportedFrom, md.Source, md.OccurredAt}))
	return hex.EncodeToString(sum[:])
}

// appendContent appends an event's canonical encoding (see ContentHash) to
// buf, for fields held as strings or as bytes alike.
func appendContent[T string | []byte](buf []byte, id, typ T, version int, stream T, revision uint64, data []byte, actor, correlationID, causationID, host, prevHash T, o origin[T]) []byte {
	buf = appendChainField(buf, chainDomain)
	buf = appendChainField(buf, id)
	buf = appendChainField(buf, typ)
	buf = binary.BigEndian.AppendUint64(buf, uint64(version))
	buf = appendChainField(buf, stream)
	buf = binary.BigEndian.AppendUint64(buf, revision)
	buf = appendChainField(buf, data)
	for _, f := range [...]T{actor, correlationID, causationID, host, prevHash} {
		buf = appendChainField(buf, f)
	}
	if len(o.importedFrom) == 0 && len(o.source) == 0 && len(o.occurredAt) == 0 {
		return buf
	}
	buf = appendChainField(buf, importMarker)
	for _, f := range [...]T{o.importedFrom, o.source, o.occurredAt} {
		buf = appendChainField(buf, f)
	}
	return buf
}

// importMarker starts the origin fields of an imported event's encoding.
const importMarker = "imported"

// origin is where an imported event came from: Metadata's ImportedFrom,
// Source and OccurredAt.
type origin[T string | []byte] struct {
	importedFrom, source, occurredAt T
}

// appendChainField appends s as its length (8 bytes, big endian) and its
// bytes.
func appendChainField[T string | []byte](buf []byte, s T) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
	return append(buf, s...)
}

// RecordedHash is ContentHash of a recorded event.
func RecordedHash(r Recorded) string {
	return ContentHash(r.ID, r.Type, r.Version, r.Stream, r.Revision, r.Data, r.Metadata)
}

// Seal sets md.PrevHash to prev and md.Hash to the event's ContentHash, as a
// store does when it appends ev at revision of stream after an event whose
// hash is prev ("" for the first event of a stream).
func Seal(ev Event, stream string, revision uint64, prev string) Metadata {
	md := ev.Metadata
	md.PrevHash = prev
	md.Hash = ""
	md.Hash = ContentHash(ev.ID, ev.Type, ev.Version, stream, revision, ev.Data, md)
	return md
}

// SealChain returns copies of evs sealed as consecutive events of stream:
// the first at revision first, after an event whose hash is prev ("" when
// the stream is new), each next one after the one before it.
func SealChain(evs []Event, stream string, first uint64, prev string) []Event {
	sealed := make([]Event, len(evs))
	for i, ev := range evs {
		sealed[i] = ev
		sealed[i].Metadata = Seal(ev, stream, first+uint64(i), prev)
		prev = sealed[i].Metadata.Hash
	}
	return sealed
}

// Break is a place where the hash chain does not hold.
type Break struct {
	// Position, Stream, Revision and ID name the event.
	Position Position
	Stream   string
	Revision uint64
	ID       string
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (b *Break) Error() string {
	return fmt.Sprintf("hash chain broken at position %d (%s@%d, event %s): %s", b.Position.Commit, b.Stream, b.Revision, b.ID, b.Reason)
}

// ChainVerifier checks the hash chain of events fed to it in log order:
// each event's Hash must be its ContentHash, and its PrevHash the Hash of
// the previous event of its stream. It also computes the running head hash
// of everything it has seen (see HeadHash). The zero value is not usable;
// call NewChainVerifier.
type ChainVerifier struct {
	last  map[string]*streamTip
	head  [32]byte
	count uint64
	pos   Position
	buf   []byte // Add's scratch encoding
}

// streamTip is the last event seen of a stream: its revision and the
// SHA-256 its hash is the hex of.
type streamTip struct {
	sum [32]byte
	rev uint64
}

// NewChainVerifier returns a verifier for a log read from its start.
func NewChainVerifier() *ChainVerifier { return &ChainVerifier{last: map[string]*streamTip{}} }

// Add checks r and folds it into the head hash. It returns a *Break when
// the chain does not hold at r.
func (v *ChainVerifier) Add(r Recorded) error {
	md := r.Metadata
	v.buf = appendContent(v.buf[:0], r.ID, r.Type, r.Version, r.Stream, r.Revision, r.Data, md.Actor, md.CorrelationID, md.CausationID, md.Host, md.PrevHash,
		origin[string]{md.ImportedFrom, md.Source, md.OccurredAt})
	l := sealedLink[string]{pos: r.Position, stream: r.Stream, revision: r.Revision, id: r.ID, prevHash: md.PrevHash, hash: md.Hash, sum: sha256.Sum256(v.buf)}
	if br := addLink(v, &l); br != nil {
		return br
	}
	return nil
}

// sealedLink is what checking an event's place in the chain takes: where
// it is, its recorded prevHash and hash, and the SHA-256 of its content.
type sealedLink[T string | []byte] struct {
	pos            Position
	stream, id     T
	revision       uint64
	prevHash, hash T
	sum            [32]byte
}

// addLink checks l as the next event of the log, and folds it into v's
// head hash when it holds.
func addLink[T string | []byte](v *ChainVerifier, l *sealedLink[T]) *Break {
	fail := func(format string, a ...any) *Break {
		return &Break{Position: l.pos, Stream: string(l.stream), Revision: l.revision, ID: string(l.id), Reason: fmt.Sprintf(format, a...)}
	}
	if len(l.hash) == 0 {
		return fail("no hash recorded")
	}
	var got [64]byte
	hex.Encode(got[:], l.sum[:])
	if string(l.hash) != string(got[:]) {
		return fail("content does not match its hash: recorded %s, computed %s", short(string(l.hash)), short(string(got[:])))
	}
	tip := v.last[string(l.stream)]
	var tipHash [64]byte
	if tip != nil {
		hex.Encode(tipHash[:], tip.sum[:])
	}
	switch {
	case tip != nil && l.revision != tip.rev+1:
		return fail("revision %d follows revision %d", l.revision, tip.rev)
	case tip != nil && string(l.prevHash) != string(tipHash[:]):
		return fail("previous hash %s, but revision %d has hash %s", short(string(l.prevHash)), tip.rev, short(string(tipHash[:])))
	case tip == nil && l.revision != 0:
		return fail("stream starts at revision %d", l.revision)
	case tip == nil && len(l.prevHash) != 0:
		return fail("first event of its stream has a previous hash %s", short(string(l.prevHash)))
	}
	if tip == nil {
		tip = &streamTip{}
		v.last[string(l.stream)] = tip
	}
	tip.sum, tip.rev = l.sum, l.revision
	v.head = headHash(v.head, l.sum[:])
	v.count++
	v.pos = l.pos
	return nil
}

// Head returns the head hash, the number of events and the position of
// the last event added.
func (v *ChainVerifier) Head() (hash string, count uint64, pos Position) {
	return hex.EncodeToString(v.head[:]), v.count, v.pos
}

// NextHeadHash folds one event hash (hex) into the running head hash of
// the log: head' = SHA-256(head || event hash bytes). The head hash of an
// empty log is 32 zero bytes. Two logs have the same head hash only if
// they hold the same events in the same order.
func NextHeadHash(head [32]byte, eventHash string) [32]byte {
	b, err := hex.DecodeString(eventHash)
	if err != nil {
		b = []byte(eventHash)
	}
	return headHash(head, b)
}

// headHash is SHA-256(head || b).
func headHash(head [32]byte, b []byte) [32]byte {
	var buf [64]byte
	return sha256.Sum256(append(append(buf[:0], head[:]...), b...))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return `""`
	}
	return h
}
