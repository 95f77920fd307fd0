package serve

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// waitingBackend's builds report that they started, then wait for ctx or
// for finish, and report the context's cause when they return.
type waitingBackend struct {
	refusingBackend
	started chan struct{}
	finish  chan struct{}
	cause   chan error
}

func (b waitingBackend) build(ctx context.Context) (BuildResult, error) {
	close(b.started)
	select {
	case <-ctx.Done():
		b.cause <- context.Cause(ctx)
		return BuildResult{}, ctx.Err()
	case <-b.finish:
		b.cause <- context.Cause(ctx)
		return BuildResult{Status: Built}, nil
	}
}

func (b waitingBackend) BuildDerivation(ctx context.Context, _ string, _ BasicDerivation, _ BuildOptions, _ io.Writer) (BuildResult, error) {
	return b.build(ctx)
}

func (b waitingBackend) BuildPaths(ctx context.Context, _ []string, _ BuildOptions, _ io.Writer) (BuildResult, error) {
	return b.build(ctx)
}

// TestClientLeavingCancelsBuild: a client that closes its input while
// its build runs (what the ssh of a killed nix-build's hook does) has the
// build's context cancelled with ErrClientLeft, and the session ends
// with it. A client that keeps its input open gets its result, and the
// build's context was never cancelled.
func TestClientLeavingCancelsBuild(t *testing.T) {
	derivation := &encoder{}
	derivation.int(cmdBuildDerivation).str("/nix/store/a.drv").int(0).strs().str("x").str("b").strs().int(0).
		int(0).int(0).int(0).int(0).int(0).int(0)
	paths := &encoder{}
	paths.int(cmdBuildPaths).strs("/nix/store/a.drv").int(0).int(0).int(0).int(0).int(0).int(0)
	for _, tt := range []struct {
		name   string
		cmd    []byte
		closes bool
	}{
		{"BuildDerivation, client leaves", derivation.Bytes(), true},
		{"BuildPaths, client leaves", paths.Bytes(), true},
		{"BuildDerivation, client waits", derivation.Bytes(), false},
		{"BuildPaths, client waits", paths.Bytes(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			out := &syncBuffer{}
			rw := struct {
				io.Reader
				io.Writer
			}{pr, out}
			hello := &encoder{}
			hello.int(ClientMagic).int(ProtocolVersion)
			go func() { _, _ = pw.Write(append(hello.Bytes(), tt.cmd...)) }()
			s, err := Accept(rw, io.Discard, true)
			require.NoError(t, err)
			b := waitingBackend{refusingBackend: refusingBackend{t}, started: make(chan struct{}), finish: make(chan struct{}), cause: make(chan error, 1)}
			served := make(chan error, 1)
			go func() { served <- s.Serve(t.Context(), b) }()
			<-b.started
			if tt.closes {
				require.NoError(t, pw.Close())
				require.ErrorIs(t, <-b.cause, ErrClientLeft)
				require.ErrorIs(t, <-served, ErrClientLeft)
				return
			}
			close(b.finish)
			require.NoError(t, <-b.cause, "the build was not cut off")
			require.NoError(t, pw.Close())
			require.NoError(t, <-served)
			require.Greater(t, len(out.String()), 16, "the result was written after the handshake")
		})
	}
}
