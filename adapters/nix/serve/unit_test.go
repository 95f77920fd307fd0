package serve

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/stretchr/testify/require"
)

// encoder builds wire-format byte streams for decoder tests.
type encoder struct{ bytes.Buffer }

func (e *encoder) int(n uint64) *encoder     { writeInt(&e.Buffer, n); return e }
func (e *encoder) str(s string) *encoder     { writeString(&e.Buffer, s); return e }
func (e *encoder) strs(s ...string) *encoder { writeStrings(&e.Buffer, s); return e }

// testNAR returns a NAR of a small tree written with go-nix's NAR writer.
func testNAR(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := nar.NewWriter(&buf)
	require.NoError(t, err)
	require.NoError(t, w.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeDirectory}))
	require.NoError(t, w.WriteHeader(&nar.Header{Path: "/(", Type: nar.TypeDirectory}))
	require.NoError(t, w.WriteHeader(&nar.Header{Path: "/(/contents", Type: nar.TypeRegular, Size: 5, Executable: true}))
	_, err = w.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, w.WriteHeader(&nar.Header{Path: "/link", Type: nar.TypeSymlink, LinkTarget: ")"}))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestCopyNAR(t *testing.T) {
	good := testNAR(t)
	trailer := []byte("TRAILING")
	var out bytes.Buffer
	src := bytes.NewReader(append(append([]byte{}, good...), trailer...))
	n, err := copyNAR(&out, src)
	require.NoError(t, err)
	require.Equal(t, int64(len(good)), n)
	require.Equal(t, good, out.Bytes())
	rest, _ := io.ReadAll(src)
	require.Equal(t, trailer, rest, "copyNAR must not read past the NAR")

	for i := 0; i < len(good); i += 7 {
		_, err := copyNAR(io.Discard, bytes.NewReader(good[:i]))
		require.Error(t, err, "truncated at %d", i)
	}
	bad := append([]byte{}, good...)
	copy(bad[8:], "nix-archive-2")
	_, err = copyNAR(io.Discard, bytes.NewReader(bad))
	require.ErrorContains(t, err, "nix-archive-1")
}

func TestReadBuildResult(t *testing.T) {
	full := func() *encoder {
		e := &encoder{}
		e.int(uint64(PermanentFailure)).str("builder failed").int(1).int(0).int(1700000000).int(1700000005)
		e.int(1).str("sha256:abc!out").str(`{"id":"sha256:abc!out","outPath":"xyz-foo","signatures":[],"dependentRealisations":{}}`)
		return e
	}
	tests := []struct {
		name    string
		in      []byte
		minor   uint64
		want    BuildResult
		wantErr string
	}{
		{
			name: "minor 7", in: full().Bytes(), minor: 7,
			want: BuildResult{Status: PermanentFailure, ErrorMsg: "builder failed", TimesBuilt: 1,
				StartTime: time.Unix(1700000000, 0).UTC(), StopTime: time.Unix(1700000005, 0).UTC(),
				BuiltOutputs: []Realisation{{ID: "sha256:abc!out", OutPath: "xyz-foo", Signatures: []string{}}}},
		},
		{
			name: "minor 2 reads status and message only", in: (&encoder{}).int(uint64(TimedOut)).str("\x1b[31;1mtimed\x1b[0m out").Bytes(), minor: 2,
			want: BuildResult{Status: TimedOut, ErrorMsg: "timed out"},
		},
		{name: "truncated", in: full().Bytes()[:30], minor: 7, wantErr: "unexpected EOF"},
		{name: "bad json", in: (&encoder{}).int(0).str("").int(1).int(0).int(0).int(0).int(1).str("id").str("{").Bytes(), minor: 6, wantErr: "built output id"},
		{name: "huge list", in: (&encoder{}).int(0).str("").int(1).int(0).int(0).int(0).int(1 << 40).Bytes(), minor: 6, wantErr: "exceed"},
		{name: "huge message", in: (&encoder{}).int(0).int(1 << 40).Bytes(), minor: 6, wantErr: "exceeds limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBuildResult(bytes.NewReader(tt.in), tt.minor)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	r := BuildResult{BuiltOutputs: []Realisation{{ID: "x!dev", OutPath: "abc-dev"}}}
	r.absolutePaths("/nix/store")
	require.Equal(t, "/nix/store/abc-dev", r.BuiltOutputs[0].OutPath)
	require.Equal(t, "dev", r.BuiltOutputs[0].OutputName())
}

func TestReadPathInfos(t *testing.T) {
	e := &encoder{}
	e.str("/nix/store/a-x").str("/nix/store/d-x.drv").strs("/nix/store/b-y").int(10).int(20).str("sha256:h").str("").strs("sig")
	e.str("")
	got, err := readPathInfos(bytes.NewReader(e.Bytes()), 7)
	require.NoError(t, err)
	require.Equal(t, []PathInfo{{Path: "/nix/store/a-x", Deriver: "/nix/store/d-x.drv", References: []string{"/nix/store/b-y"},
		DownloadSize: 10, NarSize: 20, NarHash: "sha256:h", Sigs: []string{"sig"}}}, got)

	_, err = readPathInfos(bytes.NewReader(e.Bytes()[:40]), 7)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	pad := append(binaryInt(3), 'a', 'b', 'c', 0, 0, 1, 0, 0) // non-zero padding
	_, err = readPathInfos(bytes.NewReader(pad), 7)
	require.ErrorContains(t, err, "padding")
}

func binaryInt(n uint64) []byte {
	var e encoder
	e.int(n)
	return e.Bytes()
}

func TestExportRoundTrip(t *testing.T) {
	narBytes := testNAR(t)
	var stream bytes.Buffer
	ew := NewExportWriter(&stream)
	infos := []PathInfo{
		{Path: "/nix/store/a-dep", Deriver: "/nix/store/a-dep.drv"},
		{Path: "/nix/store/b-top", References: []string{"/nix/store/a-dep", "/nix/store/b-top"}},
	}
	for _, info := range infos {
		require.NoError(t, ew.Add(info, bytes.NewReader(narBytes)))
	}
	require.NoError(t, ew.Close())
	require.Error(t, ew.Add(infos[0], bytes.NewReader(narBytes)))

	r := bytes.NewReader(stream.Bytes())
	for _, want := range infos {
		var got bytes.Buffer
		info, more, err := readExportEntry(r, &got)
		require.NoError(t, err)
		require.True(t, more)
		require.Equal(t, want.Path, info.Path)
		require.Equal(t, want.Deriver, info.Deriver)
		require.ElementsMatch(t, want.References, info.References)
		require.Equal(t, uint64(len(narBytes)), info.NarSize)
		require.Equal(t, narBytes, got.Bytes())
	}
	_, more, err := readExportEntry(r, io.Discard)
	require.NoError(t, err)
	require.False(t, more)

	_, _, err = readExportEntry(bytes.NewReader(binaryInt(2)), io.Discard)
	require.ErrorContains(t, err, "marker 2")
	require.Error(t, ew.Add(PathInfo{Path: "x"}, strings.NewReader("not a nar")))
}

func TestSortByReferences(t *testing.T) {
	in := []PathInfo{
		{Path: "/s/c", References: []string{"/s/b", "/s/outside"}},
		{Path: "/s/a", References: []string{"/s/c", "/s/a"}},
		{Path: "/s/b"},
		{Path: "/s/d"},
	}
	out, err := sortByReferences(in)
	require.NoError(t, err)
	var got []string
	for _, i := range out {
		got = append(got, i.Path)
	}
	require.Equal(t, []string{"/s/b", "/s/c", "/s/a", "/s/d"}, got)

	_, err = sortByReferences([]PathInfo{{Path: "/s/x", References: []string{"/s/y"}}, {Path: "/s/y", References: []string{"/s/x"}}})
	require.ErrorContains(t, err, "cycle")
	_, err = sortByReferences([]PathInfo{{Path: "/s/x"}, {Path: "/s/x"}})
	require.ErrorContains(t, err, "twice")
}

func TestStepOutcome(t *testing.T) {
	tests := []struct {
		status BuildStatus
		want   StepOutcome
	}{
		{Built, StepOutcome{Status: 0}},
		{Substituted, StepOutcome{Status: 0, IsCached: true}},
		{AlreadyValid, StepOutcome{Status: 0, IsCached: true}},
		{ResolvesToAlreadyValid, StepOutcome{Status: 0, IsCached: true}},
		{PermanentFailure, StepOutcome{Status: 1, CanCache: true}},
		{InputRejected, StepOutcome{Status: 1, CanCache: true}},
		{OutputRejected, StepOutcome{Status: 1, CanCache: true}},
		{TransientFailure, StepOutcome{Status: 1, CanRetry: true}},
		{CachedFailure, StepOutcome{Status: 3}},
		{TimedOut, StepOutcome{Status: 7}},
		{MiscFailure, StepOutcome{Status: 3, CanRetry: true}},
		{DependencyFailed, StepOutcome{Status: 3}},
		{LogLimitExceeded, StepOutcome{Status: 10}},
		{NotDeterministic, StepOutcome{Status: 12, CanCache: true}},
		{NoSubstituters, StepOutcome{Status: 3}},
		{BuildStatus(99), StepOutcome{Status: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.status.String(), func(t *testing.T) {
			r := BuildResult{Status: tt.status}
			require.Equal(t, tt.want, r.StepOutcome())
			require.Equal(t, tt.want.Status == 0, r.Success())
		})
	}
	require.Equal(t, "BuildStatus(99)", BuildStatus(99).String())
}

// fakePeer is a stand-in for a server that answers the handshake wrongly; a
// real nix-store cannot be made to do that.
func fakePeer(t *testing.T, reply []byte) net.Conn {
	client, srv := net.Pipe()
	go func() {
		defer srv.Close()
		buf := make([]byte, 8)
		io.ReadFull(srv, buf)
		if len(reply) == 0 {
			return
		}
		srv.Write(reply)
		io.Copy(io.Discard, srv)
	}()
	t.Cleanup(func() { client.Close() })
	return client
}

func TestHandshakeRejects(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		err   string
	}{
		{"bad magic", append(binaryInt(0x1234), binaryInt(0x207)...), "protocol mismatch"},
		{"old version", append(binaryInt(ServerMagic), binaryInt(0x203)...), "unsupported server protocol version 0x203"},
		{"other major", append(binaryInt(ServerMagic), binaryInt(0x307)...), "unsupported"},
		{"closed", nil, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(context.Background(), fakePeer(t, tt.reply))
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestHandshakeCancelled(t *testing.T) {
	client, srv := net.Pipe() // the peer never answers
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	go io.Copy(io.Discard, srv)
	_, err := NewClient(ctx, client)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
