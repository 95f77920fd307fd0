package serve

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

func TestHandshakeAndQueries(t *testing.T) {
	ctx := context.Background()
	p := instantiate(t, `let
		a = derivation { name = "qa"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "echo a > $out"]; n = "`+nonce()+`"; };
		in derivation { name = "qb"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "echo ${a} > $out"]; }`)
	outs, err := mainStore.Realise(ctx, p)
	require.NoError(t, err)
	b := outs[0]
	refs, err := mainStore.QueryReferences(ctx, b)
	require.NoError(t, err)
	require.Len(t, refs, 1)
	a := refs[0]
	missing := "/nix/store/00000000000000000000000000000000-missing-" + nonce()

	s := startServer(t, "")
	c := connect(t, s)
	require.Equal(t, uint64(0x207), c.ServerVersion())
	require.Equal(t, uint64(0x207), c.Version())

	valid, err := c.QueryValidPaths(ctx, []string{b, missing, a}, false, false)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a, b}, valid)

	valid, err = c.QueryValidPaths(ctx, []string{missing}, true, false)
	require.NoError(t, err)
	require.Empty(t, valid)

	infos, err := c.QueryPathInfos(ctx, []string{b, missing})
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, b, infos[0].Path)
	require.Equal(t, p, infos[0].Deriver)
	require.Equal(t, []string{a}, infos[0].References)
	var nar bytes.Buffer
	require.NoError(t, mainStore.DumpPath(ctx, &nar, b))
	require.Equal(t, uint64(nar.Len()), infos[0].NarSize)
	require.True(t, strings.HasPrefix(infos[0].NarHash, "sha256:"), infos[0].NarHash)

	closure, err := c.QueryClosure(ctx, []string{b}, false)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a, b}, closure)

	var dumped bytes.Buffer
	require.NoError(t, c.DumpStorePath(ctx, b, &dumped))
	require.Equal(t, nar.Bytes(), dumped.Bytes())

	// The session is still in step after all of that.
	valid, err = c.QueryValidPaths(ctx, []string{a}, false, false)
	require.NoError(t, err)
	require.Equal(t, []string{a}, valid)
	require.NoError(t, c.Err())
	require.NoError(t, s.Close())
}

// TestBuildRemoteFlow does what a builder worker does: build a dependency
// in the main store, copy it to a chroot store through the protocol, build
// the dependent there, and copy its output back into a third store.
func TestBuildRemoteFlow(t *testing.T) {
	ctx := context.Background()
	n := nonce()
	top := instantiate(t, `let
		dep = derivation { name = "dep"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "echo dep-`+n+` > $out"]; };
		in derivation { name = "top"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`";
			args = ["sh" "-c" "read x < ${dep}; echo built from $x via ${dep} > $out; echo top-log-line >&2; echo top-stdout"]; }`)
	d, bd := basic(t, top)
	require.Len(t, d.InputDrvs, 1)
	var depOut string
	for depDrv := range d.InputDrvs {
		outs, err := mainStore.Realise(ctx, depDrv)
		require.NoError(t, err)
		depOut = outs[0]
	}
	require.Len(t, bd.InputSrcs, 2, "the builder's busybox and dep's output")
	require.Contains(t, bd.InputSrcs, depOut)

	uri := chrootURI(t)
	s := startServer(t, uri)
	c := connect(t, s)

	valid, err := c.QueryValidPaths(ctx, bd.InputSrcs, true, false)
	require.NoError(t, err)
	require.Empty(t, valid)

	importInputs(t, c, bd)
	valid, err = c.QueryValidPaths(ctx, bd.InputSrcs, false, false)
	require.NoError(t, err)
	require.Equal(t, bd.InputSrcs, valid)

	res, err := c.BuildDerivation(ctx, top, bd, BuildOptions{MaxSilentTime: time.Minute, BuildTimeout: time.Minute, MaxLogSize: 1 << 20})
	require.NoError(t, err, s.stderr.String())
	require.Equal(t, Built, res.Status, res.ErrorMsg)
	require.True(t, res.Success())
	require.Equal(t, StepOutcome{Status: StepSuccess}, res.StepOutcome())
	require.Equal(t, uint64(1), res.TimesBuilt)
	require.False(t, res.StartTime.IsZero())
	require.False(t, res.StopTime.Before(res.StartTime))
	require.Len(t, res.BuiltOutputs, 1)
	require.Equal(t, "out", res.BuiltOutputs[0].OutputName())
	require.Equal(t, d.Outputs["out"], res.BuiltOutputs[0].OutPath)

	// Building again: already valid.
	res, err = c.BuildDerivation(ctx, top, bd, BuildOptions{})
	require.NoError(t, err)
	require.True(t, res.Success(), res.Status.String())

	// Copy the output (and its dependency) back, into a fresh store.
	var stream bytes.Buffer
	ew := NewExportWriter(&stream)
	var got []PathInfo
	err = c.ExportPaths(ctx, []string{d.Outputs["out"], depOut}, func(path string, info PathInfo, nar io.Reader) error {
		got = append(got, info)
		return ew.Add(info, nar)
	})
	require.NoError(t, err)
	require.NoError(t, ew.Close())
	require.Len(t, got, 2)
	require.Equal(t, depOut, got[0].Path, "dependencies come first")
	require.Equal(t, d.Outputs["out"], got[1].Path)
	require.Equal(t, []string{depOut}, got[1].References)
	require.Equal(t, top, got[1].Deriver)

	infos, err := c.QueryPathInfos(ctx, []string{d.Outputs["out"]})
	require.NoError(t, err)
	require.Equal(t, infos[0].NarHash, got[1].NarHash)
	require.Equal(t, infos[0].NarSize, got[1].NarSize)

	require.NoError(t, s.Close())
	require.Contains(t, s.stderr.String(), "top-log-line")
	require.Contains(t, s.stderr.String(), "top-stdout")

	third := chrootStore(chrootURI(t))
	imported, err := third.Import(ctx, &stream)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{depOut, d.Outputs["out"]}, imported)
	content, err := os.ReadFile(filepath.Join(third.URI, d.Outputs["out"]))
	require.NoError(t, err)
	require.Equal(t, "built from dep-"+n+" via "+depOut+"\n", string(content))
}

func TestImportStream(t *testing.T) {
	ctx := context.Background()
	dep := instantiate(t, `derivation { name = "streamed"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "mkdir -p $out/bin; echo hi > $out/bin/x; chmod +x $out/bin/x; ln -s bin/x $out/link"]; n = "`+nonce()+`"; }`)
	outs, err := mainStore.Realise(ctx, dep)
	require.NoError(t, err)

	uri := chrootURI(t)
	s := startServer(t, uri)
	c := connect(t, s)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(mainStore.Export(ctx, pw, outs...)) }()
	require.NoError(t, c.ImportStream(ctx, pr))
	valid, err := c.QueryValidPaths(ctx, outs, false, false)
	require.NoError(t, err)
	require.Equal(t, outs, valid)
	target, err := os.Readlink(filepath.Join(uri, outs[0], "link"))
	require.NoError(t, err)
	require.Equal(t, "bin/x", target)
}

func TestBuildFailures(t *testing.T) {
	uri := chrootURI(t)
	s := startServer(t, uri)
	c := connect(t, s)
	tests := []struct {
		name    string
		script  string
		opts    BuildOptions
		status  BuildStatus
		step    int
		errPart string
		logPart string
	}{
		{
			name: "exit code", script: "echo about-to-fail >&2; exit 3",
			status: PermanentFailure, step: 1, errPart: "failed with exit code 3", logPart: "about-to-fail",
		},
		{
			name: "no output", script: "true",
			status: OutputRejected, step: 1, errPart: "failed to produce output path",
		},
		{
			name: "build timeout", script: "echo start; sleep 30",
			opts:   BuildOptions{BuildTimeout: time.Second},
			status: TimedOut, step: 7, errPart: "timed out",
		},
		{
			name: "silent timeout", script: "sleep 30",
			opts:   BuildOptions{MaxSilentTime: time.Second},
			status: TimedOut, step: 7, errPart: "silence",
		},
		{
			name: "log limit", script: "i=0; while [ $i -lt 2000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done; echo > $out",
			opts:   BuildOptions{MaxLogSize: 1000},
			status: LogLimitExceeded, step: 10, errPart: "log",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := instantiate(t, `derivation { name = "fail"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "`+tt.script+`"]; n = "`+nonce()+`"; }`)
			_, bd := basic(t, p)
			importInputs(t, c, bd)
			start := time.Now()
			res, err := c.BuildDerivation(context.Background(), p, bd, tt.opts)
			require.NoError(t, err)
			require.Less(t, time.Since(start), 20*time.Second)
			require.Equal(t, tt.status, res.Status, res.ErrorMsg)
			require.Equal(t, tt.step, res.StepOutcome().Status)
			require.False(t, res.Success())
			require.Contains(t, res.ErrorMsg, tt.errPart)
			if tt.logPart != "" {
				require.Eventually(t, func() bool { return strings.Contains(s.stderr.String(), tt.logPart) }, 5*time.Second, 10*time.Millisecond)
			}
		})
	}
	require.NoError(t, c.Err())
}

func TestCancelBreaksSession(t *testing.T) {
	s := startServer(t, chrootURI(t))
	c := connect(t, s)
	p := instantiate(t, `derivation { name = "slow"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "sleep 30"]; n = "`+nonce()+`"; }`)
	_, bd := basic(t, p)
	importInputs(t, c, bd)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.BuildDerivation(ctx, p, bd, BuildOptions{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Error(t, c.Err())
	_, err = c.QueryValidPaths(context.Background(), nil, false, false)
	require.ErrorIs(t, err, ErrBroken)
}

func TestServerErrorIsUnexpectedEOF(t *testing.T) {
	s := startServer(t, chrootURI(t))
	c := connect(t, s)
	_, err := c.QueryValidPaths(context.Background(), []string{"/not/a/store/path"}, false, false)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Eventually(t, func() bool { return strings.Contains(s.stderr.String(), "not in the Nix store") }, 5*time.Second, 10*time.Millisecond)
}

// TestNotDeterministic runs on the main store: Nix 2.8 cannot repeat builds
// in a chroot store (it renames the output by its logical path).
func TestNotDeterministic(t *testing.T) {
	s := startServer(t, "")
	c := connect(t, s)
	p := instantiate(t, `derivation { name = "nondet"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "od -An -tx1 -N16 /dev/urandom > $out"]; n = "`+nonce()+`"; }`)
	_, bd := basic(t, p)
	res, err := c.BuildDerivation(context.Background(), p, bd, BuildOptions{Repeats: 1, EnforceDeterminism: true})
	require.NoError(t, err)
	require.Equal(t, NotDeterministic, res.Status, res.ErrorMsg)
	require.Equal(t, StepOutcome{Status: StepNotDeterministic, CanCache: true}, res.StepOutcome())
	require.Contains(t, res.ErrorMsg, "differ")
}

func TestImportMissingReferenceFails(t *testing.T) {
	ctx := context.Background()
	p := instantiate(t, `let
		a = derivation { name = "ra"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "echo a > $out"]; n = "`+nonce()+`"; };
		in derivation { name = "rb"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "echo ${a} > $out"]; }`)
	outs, err := mainStore.Realise(ctx, p)
	require.NoError(t, err)
	s := startServer(t, chrootURI(t))
	c := connect(t, s)
	// Only the top path, without the path it references.
	err = c.ImportPaths(ctx, pathInfos(t, mainStore, outs), mainStore.DumpPath)
	require.Error(t, err)
	require.ErrorIs(t, c.Err(), io.ErrUnexpectedEOF)
}
