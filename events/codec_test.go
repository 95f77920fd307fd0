package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"buildledger/events"
)

func record(ev events.Event) events.Recorded {
	return events.Recorded{ID: ev.ID, Type: ev.Type, Version: ev.Version, Stream: "s", Data: ev.Data, Metadata: ev.Metadata}
}

func TestCodecRoundTrip(t *testing.T) {
	c := events.NewCodec()
	in := events.BuildQueued{BuildID: 7, EvalID: 3, Job: "hello", Outputs: []events.Output{{Name: "out", Path: "/nix/store/x"}}, Meta: events.JobMeta{Timeout: 10}}
	ev, err := c.Encode(in, events.Metadata{Actor: "user:a"}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "BuildQueued", ev.Type)
	assert.Equal(t, 1, ev.Version)
	assert.True(t, events.IsUUID(ev.ID))
	out, err := c.Decode(record(ev))
	require.NoError(t, err)
	assert.Equal(t, &in, out)
}

func TestCodecKnowsEveryType(t *testing.T) {
	c := events.NewCodec()
	types := c.Types()
	require.GreaterOrEqual(t, len(types), 39)
	for _, tv := range types {
		assert.True(t, c.Known(tv.Type))
		p, err := c.Decode(events.Recorded{ID: "x", Type: tv.Type, Version: tv.Version, Data: json.RawMessage(`{}`)})
		require.NoError(t, err, tv.Type)
		assert.Equal(t, tv.Type, p.EventType(), "the registered name matches the payload's EventType")
	}
}

func TestCodecErrors(t *testing.T) {
	c := events.NewCodec()
	cases := []struct {
		name string
		rec  events.Recorded
		want error
	}{
		{"unknown type", events.Recorded{Type: "NoSuchEvent", Version: 1, Data: json.RawMessage(`{}`)}, events.ErrUnknownType},
		{"malformed payload", events.Recorded{Type: "BuildQueued", Version: 1, Data: json.RawMessage(`{"buildId": "seven"}`)}, events.ErrMalformed},
		{"not json", events.Recorded{Type: "BuildQueued", Version: 1, Data: json.RawMessage(`{`)}, events.ErrMalformed},
		{"future version", events.Recorded{Type: "BuildQueued", Version: 9, Data: json.RawMessage(`{}`)}, events.ErrFutureVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Decode(tc.rec)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// v2Machine is a test payload whose version 1 called the field "host".
type v2Machine struct {
	Name string `json:"name"`
}

func (v2Machine) EventType() string { return "TestMachine" }

func TestUpcasting(t *testing.T) {
	c := events.NewCodec()
	c.Register(2, func() events.Payload { return new(v2Machine) })
	old := events.Recorded{Type: "TestMachine", Version: 1, Data: json.RawMessage(`{"host":"builder1"}`)}
	_, err := c.Decode(old)
	require.ErrorIs(t, err, events.ErrMalformed, "no upcaster yet")
	c.RegisterUpcaster("TestMachine", 1, func(b json.RawMessage) (json.RawMessage, error) {
		var v1 struct{ Host string }
		if err := json.Unmarshal(b, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"name": v1.Host})
	})
	p, err := c.Decode(old)
	require.NoError(t, err)
	assert.Equal(t, &v2Machine{Name: "builder1"}, p)
}

func TestValidateStreamName(t *testing.T) {
	for _, ok := range []string{"build-1", "jobset-p.j", "step-abc", "ünïcode-ok"} {
		assert.NoError(t, events.ValidateStreamName(ok), ok)
	}
	for _, bad := range []string{"", " x", "a b", "tab\t", "$all", "nul\x00", "\xff", string(make([]byte, 201))} {
		assert.ErrorIs(t, events.ValidateStreamName(bad), events.ErrInvalidStream, "%q", bad)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("BuildQueued", 1, `{"buildId":1}`)
	f.Add("StepFinished", 1, `{"status":"x"}`)
	f.Add("Nope", 1, `{}`)
	f.Add("JobsetCreated", 0, `null`)
	c := events.NewCodec()
	f.Fuzz(func(t *testing.T, typ string, version int, data string) {
		p, err := c.Decode(events.Recorded{Type: typ, Version: version, Data: json.RawMessage(data)})
		if err == nil && p == nil {
			t.Fatal("nil payload without error")
		}
	})
}

func FuzzValidateStreamName(f *testing.F) {
	f.Add("build-1")
	f.Add("$x")
	f.Fuzz(func(t *testing.T, s string) {
		if events.ValidateStreamName(s) == nil {
			if s == "" || len(s) > events.MaxStreamNameLen || s[0] == '$' {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

// Old user events carried the password hash; reading them at version 2
// drops it (and remembers that UserUpdated changed the password).
func TestUserEventsV1LoseTheirPasswordHash(t *testing.T) {
	const hash = `$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g`
	c := events.NewCodec()
	for _, tc := range []struct {
		typ, data string
		want      events.Payload
	}{
		{"UserCreated", `{"userName":"bob","fullName":"Bob","emailAddress":"b@x","passwordHash":"` + hash + `","type":"hydra"}`,
			&events.UserCreated{UserName: "bob", FullName: "Bob", EmailAddress: "b@x", Type: "hydra"}},
		{"UserUpdated", `{"userName":"bob","emailAddress":"b@x","passwordHash":"` + hash + `"}`,
			&events.UserUpdated{UserName: "bob", EmailAddress: "b@x", PasswordChanged: true}},
		{"UserUpdated", `{"userName":"bob","emailAddress":"c@x"}`,
			&events.UserUpdated{UserName: "bob", EmailAddress: "c@x"}},
	} {
		p, err := c.Decode(events.Recorded{ID: "x", Type: tc.typ, Version: 1, Data: json.RawMessage(tc.data)})
		require.NoError(t, err)
		assert.Equal(t, tc.want, p)
		b, err := json.Marshal(p)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "argon2id")
	}
}

// UserUpdated gained publicDashboard without a new version: events
// recorded before it read as a private dashboard, which every user had.
func TestUserUpdatedPublicDashboard(t *testing.T) {
	c := events.NewCodec()
	for _, tc := range []struct {
		version int
		data    string
		want    events.Payload
	}{
		{1, `{"userName":"bob","emailAddress":"c@x"}`, &events.UserUpdated{UserName: "bob", EmailAddress: "c@x"}},
		{2, `{"userName":"bob","keyId":"k1","emailOnError":true}`, &events.UserUpdated{UserName: "bob", KeyID: "k1", EmailOnError: true}},
		{2, `{"userName":"bob","keyId":"k1","publicDashboard":true}`, &events.UserUpdated{UserName: "bob", KeyID: "k1", PublicDashboard: true}},
	} {
		p, err := c.Decode(events.Recorded{ID: "x", Type: "UserUpdated", Version: tc.version, Data: json.RawMessage(tc.data)})
		require.NoError(t, err)
		assert.Equal(t, tc.want, p)
	}
}

// Tokens recorded before scopes existed read as scope "eval": enough for
// CI, no longer everything their user may do. A version 2 event keeps
// the scope it names.
func TestAPITokenCreatedV1GetsTheDefaultScope(t *testing.T) {
	c := events.NewCodec()
	for _, tc := range []struct {
		version int
		data    string
		want    events.Payload
	}{
		{1, `{"id":"t1","userName":"bob","name":"ci","tokenHash":"ab","createdAt":5}`,
			&events.APITokenCreated{ID: "t1", UserName: "bob", Name: "ci", Scope: "eval", TokenHash: "ab", CreatedAt: 5}},
		{2, `{"id":"t1","userName":"bob","name":"ci","scope":"read","mintedBy":"admin","tokenHash":"ab","createdAt":5}`,
			&events.APITokenCreated{ID: "t1", UserName: "bob", Name: "ci", Scope: "read", MintedBy: "admin", TokenHash: "ab", CreatedAt: 5}},
	} {
		p, err := c.Decode(events.Recorded{ID: "x", Type: "APITokenCreated", Version: tc.version, Data: json.RawMessage(tc.data)})
		require.NoError(t, err)
		assert.Equal(t, tc.want, p)
	}
}
