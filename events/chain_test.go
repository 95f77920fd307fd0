package events_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/events"
)

// chain builds a sealed log of n events over two streams, as a store would.
func chain(n int) []events.Recorded {
	var out []events.Recorded
	tips := map[string]string{}
	revs := map[string]uint64{}
	for i := 0; i < n; i++ {
		stream := fmt.Sprintf("s-%d", i%2)
		ev := events.Event{ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", i), Type: "T", Version: 1,
			Data: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i)), Metadata: events.Metadata{Actor: "user:a"}}
		rev := revs[stream]
		md := events.Seal(ev, stream, rev, tips[stream])
		out = append(out, events.Recorded{ID: ev.ID, Type: ev.Type, Version: 1, Stream: stream, Revision: rev,
			Position: events.At(uint64(i + 1)), Data: ev.Data, Metadata: md})
		tips[stream], revs[stream] = md.Hash, rev+1
	}
	return out
}

func TestChainVerifier(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(rs []events.Recorded)
		wantPos uint64 // 0: valid
	}{
		{"valid", func([]events.Recorded) {}, 0},
		{"data byte", func(rs []events.Recorded) { rs[3].Data = json.RawMessage(`{"n": 9}`) }, 4},
		{"actor", func(rs []events.Recorded) { rs[2].Metadata.Actor = "user:mallory" }, 3},
		{"type", func(rs []events.Recorded) { rs[5].Type = "U" }, 6},
		{"revision", func(rs []events.Recorded) { rs[4].Revision = 7 }, 5},
		{"no hash", func(rs []events.Recorded) { rs[1].Metadata.Hash = "" }, 2},
		{"resealed but unlinked", func(rs []events.Recorded) {
			r := rs[2]
			r.Data = json.RawMessage(`{"n": 99}`)
			r.Metadata.PrevHash = ""
			r.Metadata.Hash = ""
			ev := events.Event{ID: r.ID, Type: r.Type, Version: r.Version, Data: r.Data, Metadata: r.Metadata}
			rs[2].Data, rs[2].Metadata = r.Data, events.Seal(ev, r.Stream, r.Revision, "forged")
		}, 3},
		{"deleted event", func(rs []events.Recorded) { copy(rs[2:], rs[3:]); rs[len(rs)-1] = rs[len(rs)-2] }, 5}, // the next event of its stream
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := chain(10)
			tc.tamper(rs)
			v := events.NewChainVerifier()
			var err error
			for _, r := range rs {
				if err = v.Add(r); err != nil {
					break
				}
			}
			if tc.wantPos == 0 {
				require.NoError(t, err)
				return
			}
			var br *events.Break
			require.True(t, errors.As(err, &br), "got %v", err)
			require.Equal(t, tc.wantPos, br.Position.Commit, br.Error())
		})
	}
}

func TestHeadHashOrder(t *testing.T) {
	rs := chain(4)
	a, b := events.NewChainVerifier(), events.NewChainVerifier()
	for _, r := range rs {
		require.NoError(t, a.Add(r))
	}
	for _, i := range []int{1, 0, 2, 3} {
		require.NoError(t, b.Add(rs[i]))
	}
	ha, na, _ := a.Head()
	hb, nb, _ := b.Head()
	require.Equal(t, na, nb)
	require.NotEqual(t, ha, hb, "the head hash depends on the order")
}

func TestContentHashFieldsMatter(t *testing.T) {
	base := func() (string, string, int, string, uint64, []byte, events.Metadata) {
		return "id", "T", 1, "s", 0, []byte(`{}`), events.Metadata{}
	}
	id, typ, v, s, rev, data, md := base()
	h := events.ContentHash(id, typ, v, s, rev, data, md)
	require.Len(t, h, 64)
	require.NotEqual(t, h, events.ContentHash(id, typ, v, s, rev+1, data, md))
	require.NotEqual(t, h, events.ContentHash(id, typ, v+1, s, rev, data, md))
	require.NotEqual(t, h, events.ContentHash("i", "dT", v, s, rev, data, md), "length prefixes keep fields apart")
	md2 := md
	md2.Hash = "anything"
	require.Equal(t, h, events.ContentHash(id, typ, v, s, rev, data, md2), "Hash itself is not covered")
	md2.PrevHash = "x"
	require.NotEqual(t, h, events.ContentHash(id, typ, v, s, rev, data, md2))
}

// TestContentHashOfRecordedHistoryUnchanged pins the hash of an event
// without import metadata to the value it had before the origin fields
// existed: logs sealed then still verify.
func TestContentHashOfRecordedHistoryUnchanged(t *testing.T) {
	md := events.Metadata{Actor: "user:alice", CorrelationID: "c", CausationID: "k", Host: "h", PrevHash: "ab"}
	got := events.ContentHash("0190b2c4-0000-7000-8000-000000000001", "BuildQueued", 1, "build-7", 3, []byte(`{"buildId":7}`), md)
	require.Equal(t, "6508099b9a22bbc0d0c27b0c59f43fd721de54bd0d7d616834a6f03041371451", got)
}

// TestContentHashCoversOrigin: an imported event's origin cannot be
// changed, added or removed without changing its hash.
func TestContentHashCoversOrigin(t *testing.T) {
	hash := func(md events.Metadata) string {
		return events.ContentHash("id", "T", 1, "s", 0, []byte(`{}`), md)
	}
	imported := events.Metadata{ImportedFrom: "hydra", Source: "builds:7", OccurredAt: "2021-05-01T10:00:00Z"}
	h := hash(imported)
	require.NotEqual(t, hash(events.Metadata{}), h, "removing the origin")
	for name, change := range map[string]func(*events.Metadata){
		"importedFrom": func(m *events.Metadata) { m.ImportedFrom = "jenkins" },
		"source":       func(m *events.Metadata) { m.Source = "builds:8" },
		"occurredAt":   func(m *events.Metadata) { m.OccurredAt = "2022-05-01T10:00:00Z" },
		"shifted":      func(m *events.Metadata) { m.ImportedFrom, m.Source = "", "hydrabuilds:7" },
	} {
		md := imported
		change(&md)
		require.NotEqual(t, h, hash(md), name)
	}
	require.True(t, imported.Imported())
	require.False(t, events.Metadata{Actor: "a"}.Imported())
}

// TestChainVerifierImported: a sealed imported event verifies, through
// both the in-place scan of its stored metadata and json.Unmarshal.
func TestChainVerifierImported(t *testing.T) {
	ev := events.Event{ID: "00000000-0000-5000-8000-000000000001", Type: "T", Version: 1, Data: json.RawMessage(`{}`),
		Metadata: events.Metadata{Actor: "import:hydra", ImportedFrom: "hydra", Source: "builds:7", OccurredAt: "2021-05-01T10:00:00Z"}}
	md := events.Seal(ev, "s", 0, "")
	raw, err := json.Marshal(md)
	require.NoError(t, err)
	parsed, err := events.ParseMetadata(raw)
	require.NoError(t, err)
	require.Equal(t, md, parsed)
	v := events.NewChainVerifier()
	require.NoError(t, v.Add(events.Recorded{ID: ev.ID, Type: "T", Version: 1, Stream: "s", Position: events.At(1), Data: ev.Data, Metadata: parsed}))
	hashed, _ := events.HashLinks([]events.ChainLink{{Position: events.At(1), ID: []byte(ev.ID), Type: []byte("T"), Version: 1,
		Stream: []byte("s"), Data: ev.Data, Metadata: raw}}, nil)
	br, _, err := events.NewChainVerifier().AddHashed(hashed, events.Start)
	require.NoError(t, err)
	require.Nil(t, br)
	tampered := parsed
	tampered.Source = "builds:8"
	require.Error(t, events.NewChainVerifier().Add(events.Recorded{ID: ev.ID, Type: "T", Version: 1, Stream: "s", Position: events.At(1), Data: ev.Data, Metadata: tampered}))
}
