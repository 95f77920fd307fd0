package eval

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/events"
)

func TestNixStringRoundTrip(t *testing.T) {
	requireNix(t)
	in := []string{"", "plain", `quote " and \ backslash`, "${interp} and $dollar and $${x}", "tab\tnl\ncr\r", "ünïcödé ''"}
	var lits []string
	for _, s := range in {
		lits = append(lits, nixString(s))
	}
	expr := "["
	for _, l := range lits {
		expr += " " + l
	}
	expr += " ]"
	out, err := exec.Command("nix-instantiate", "--eval", "--strict", "--json", "-E", expr).Output()
	require.NoError(t, err, expr)
	var got []string
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, in, got)
}

func TestIsNixIdentifier(t *testing.T) {
	for name, want := range map[string]bool{
		"src": true, "_x": true, "a-b'c_1": true, "nixpkgs": true,
		"": false, "1abc": false, "my input": false, "a.b": false, "let": false, "or": false, "-x": false,
	} {
		require.Equal(t, want, isNixIdentifier(name), name)
	}
}

func TestJobMeta(t *testing.T) {
	tests := []struct {
		name string
		meta string
		want events.JobMeta
	}{
		{name: "empty", meta: `{}`, want: events.JobMeta{SchedulingPriority: 100}},
		{name: "hydra meta.nix", meta: `{"description":"d","license":[{"shortName":"MIT"},"BSD"],"homepage":"h",
			"maintainers":["alice@example.com",{"email":"bob@not.found"}]}`,
			want: events.JobMeta{Description: "d", License: "MIT, BSD", Homepage: "h", Maintainers: "alice@example.com, bob@not.found",
				SchedulingPriority: 100}},
		{name: "single license set, odd types", meta: `{"license":{"fullName":"Full"},"maintainers":{"name":"no email"},
			"timeout":1.5,"maxSilent":"60","schedulingPriority":5,"isChannel":true,"homepage":[]}`,
			want: events.JobMeta{License: "Full", SchedulingPriority: 5, IsChannel: true}},
		{name: "isHydraChannel wins", meta: `{"isHydraChannel":false,"isChannel":true}`,
			want: events.JobMeta{SchedulingPriority: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(tt.meta), &m))
			require.Equal(t, tt.want, jobMeta(m))
		})
	}
}

func TestSplitMarks(t *testing.T) {
	stderr := "trace: bl-walk:k:[]\ntrace: bl-walk:k:[\"a\"]\n" +
		`trace: bl-walk:r:{"attr":["a"],"drvPath":"/nix/store/x.drv","name":"x"}` + "\n" +
		"trace: user trace\ntrace: bl-walk:j:[\"b\",\"c.d\"]\nerror: boom\n\n       at x.nix:1:1\n"
	rep := splitMarks(stderr)
	require.Equal(t, []string{"b", "c.d"}, rep.Last)
	require.Equal(t, "trace: user trace\nerror: boom\n\n       at x.nix:1:1", rep.Msg)
	require.Len(t, rep.Finished, 1)
	require.Equal(t, "/nix/store/x.drv", rep.Finished[0].DrvPath)

	require.Nil(t, splitMarks("error: syntax error").Last)
	require.Equal(t, []string{}, splitMarks("trace: bl-walk:k:[]\nerror: x").Last)
}

func TestSkipTree(t *testing.T) {
	s := skipTree{}
	s.add([]string{"a", "b"})
	s.add([]string{"c"})
	s.add([]string{"c", "d"}) // below a skipped path: no change
	require.True(t, s.has([]string{"a", "b"}))
	require.True(t, s.has([]string{"c", "d"}))
	require.False(t, s.has([]string{"a"}))
	require.False(t, s.has([]string{"a", "x"}))
	require.Equal(t, skipTree{"a": {"b": nil}, "c": nil}, s)
	require.Equal(t, `{ "c" = true; }`, skipTree{"c": nil}.nix())
}

// TestWalkerMetaAgrees checks that the typed decoding of walker.nix's meta
// gives what the generic decoding (used for nix-eval-jobs) gives.
func TestWalkerMetaAgrees(t *testing.T) {
	for _, js := range []string{
		`{}`,
		`{"description":"d","homepage":"h","license":["BSD",{"shortName":"MIT","fullName":"MIT License","spdxId":null},{"fullName":"F","shortName":null,"spdxId":null},null],
		  "maintainers":["a@x",{"email":"b@y","name":"B"},{"email":null,"name":"C"}],"timeout":1,"maxSilent":2,"schedulingPriority":3,"isHydraChannel":true}`,
		`{"isHydraChannel":null,"isChannel":true,"timeout":null,"license":[]}`,
	} {
		var wm walkerMeta
		require.NoError(t, json.Unmarshal([]byte(js), &wm), js)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(js), &m))
		require.Equal(t, jobMeta(m), wm.jobMeta(), js)
	}
}

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{name: "whole lines", writes: []string{"a\nb\n"}, want: []string{"a", "b"}},
		{name: "split lines", writes: []string{"ab", "c\nd", "", "e\n\nf"}, want: []string{"abc", "de", "", "f"}},
		{name: "no newline", writes: []string{"x"}, want: []string{"x"}},
		{name: "nothing", writes: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &lineWriter{line: func(b []byte) { got = append(got, string(b)) }}
			for _, s := range tt.writes {
				n, err := w.Write([]byte(s))
				require.NoError(t, err)
				require.Equal(t, len(s), n)
			}
			w.flush()
			require.Equal(t, tt.want, got)
		})
	}
}
