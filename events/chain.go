package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
)

// chainDomain starts every hashed encoding, so a hash of an event can never
// be confused with a hash of anything else.
const chainDomain = "buildledger-event-v1"

// ContentHash returns the hex SHA-256 of an event's canonical encoding: the
// domain string, then id, type, version, stream, revision, the data bytes
// exactly as stored, and the metadata fields actor, correlationId,
// causationId, host and prevHash. Hash itself is left out. Every string is
// written as its length (8 bytes, big endian) followed by its bytes, and
// numbers as 8 bytes big endian, so no two different events encode alike.
// The position and the recording time are not covered: they are the
// store's, and the running head hash (HeadHash) covers the order.
func ContentHash(id, typ string, version int, stream string, revision uint64, data []byte, md Metadata) string {
	h := sha256.New()
	w := chainWriter{h: h}
	w.str(chainDomain)
	w.str(id)
	w.str(typ)
	w.num(uint64(version))
	w.str(stream)
	w.num(revision)
	w.bytes(data)
	w.str(md.Actor)
	w.str(md.CorrelationID)
	w.str(md.CausationID)
	w.str(md.Host)
	w.str(md.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
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

type chainWriter struct {
	h   hash.Hash
	buf [8]byte
}

func (w *chainWriter) num(n uint64) {
	binary.BigEndian.PutUint64(w.buf[:], n)
	w.h.Write(w.buf[:])
}

func (w *chainWriter) str(s string) {
	w.num(uint64(len(s)))
	w.h.Write([]byte(s))
}

func (w *chainWriter) bytes(b []byte) {
	w.num(uint64(len(b)))
	w.h.Write(b)
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
	last  map[string]streamTip
	head  [32]byte
	count uint64
	pos   Position
}

type streamTip struct {
	hash string
	rev  uint64
}

// NewChainVerifier returns a verifier for a log read from its start.
func NewChainVerifier() *ChainVerifier { return &ChainVerifier{last: map[string]streamTip{}} }

// Add checks r and folds it into the head hash. It returns a *Break when
// the chain does not hold at r.
func (v *ChainVerifier) Add(r Recorded) error {
	fail := func(format string, a ...any) error {
		return &Break{Position: r.Position, Stream: r.Stream, Revision: r.Revision, ID: r.ID, Reason: fmt.Sprintf(format, a...)}
	}
	if r.Metadata.Hash == "" {
		return fail("no hash recorded")
	}
	if got := RecordedHash(r); got != r.Metadata.Hash {
		return fail("content does not match its hash: recorded %s, computed %s", short(r.Metadata.Hash), short(got))
	}
	tip, seen := v.last[r.Stream]
	switch {
	case seen && r.Revision != tip.rev+1:
		return fail("revision %d follows revision %d", r.Revision, tip.rev)
	case seen && r.Metadata.PrevHash != tip.hash:
		return fail("previous hash %s, but revision %d has hash %s", short(r.Metadata.PrevHash), tip.rev, short(tip.hash))
	case !seen && r.Revision != 0:
		return fail("stream starts at revision %d", r.Revision)
	case !seen && r.Metadata.PrevHash != "":
		return fail("first event of its stream has a previous hash %s", short(r.Metadata.PrevHash))
	}
	v.last[r.Stream] = streamTip{hash: r.Metadata.Hash, rev: r.Revision}
	v.head = NextHeadHash(v.head, r.Metadata.Hash)
	v.count++
	v.pos = r.Position
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
	h := sha256.New()
	h.Write(head[:])
	if b, err := hex.DecodeString(eventHash); err == nil {
		h.Write(b)
	} else {
		h.Write([]byte(eventHash))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
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
