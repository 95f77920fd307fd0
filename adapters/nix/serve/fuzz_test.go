package serve

import (
	"bytes"
	"context"
	"io"
	"testing"
)

func FuzzReadBuildResult(f *testing.F) {
	e := &encoder{}
	e.int(3).str("failed").int(1).int(0).int(5).int(6).int(1).str("sha256:x!out").str(`{"outPath":"a-b"}`)
	f.Add(e.Bytes(), uint8(7))
	f.Add([]byte{}, uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, minor uint8) {
		readBuildResult(bytes.NewReader(in), uint64(minor))
	})
}

func FuzzReadPathInfos(f *testing.F) {
	e := &encoder{}
	e.str("/nix/store/a").str("").strs("/nix/store/b").int(1).int(2).str("sha256:x").str("").strs().str("")
	f.Add(e.Bytes(), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, minor uint8) {
		readPathInfos(bytes.NewReader(in), uint64(minor))
	})
}

func FuzzReadExportEntry(f *testing.F) {
	var stream bytes.Buffer
	ew := NewExportWriter(&stream)
	ew.Add(PathInfo{Path: "/nix/store/a", References: []string{"/nix/store/b"}}, bytes.NewReader(testNAR(f)))
	ew.Close()
	f.Add(stream.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for i := 0; i < 4; i++ {
			_, more, err := readExportEntry(r, io.Discard)
			if err != nil || !more {
				return
			}
		}
	})
}

func FuzzCopyNAR(f *testing.F) {
	f.Add(testNAR(f))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		n, err := copyNAR(&out, bytes.NewReader(in))
		if err == nil && !bytes.Equal(out.Bytes(), in[:n]) {
			t.Fatalf("copied bytes differ from input prefix")
		}
	})
}

func FuzzReadBasicDerivation(f *testing.F) {
	var b bytes.Buffer
	d := BasicDerivation{Outputs: map[string]DerivationOutput{"out": {Path: "/nix/store/a-x"}}, InputSrcs: []string{"/nix/store/b"},
		Platform: "x86_64-linux", Builder: "/bin/sh", Args: []string{"-c", "true"}, Env: map[string]string{"out": "/nix/store/a-x"}}
	if err := writeBasicDerivation(&b, d); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := readBasicDerivation(bytes.NewReader(in))
		if err != nil {
			return
		}
		// What was read writes back to what reads the same.
		var again bytes.Buffer
		if err := writeBasicDerivation(&again, got); err != nil {
			t.Fatal(err)
		}
		if _, err := readBasicDerivation(&again); err != nil {
			t.Fatalf("re-read: %v", err)
		}
	})
}

// FuzzServer feeds the server arbitrary client bytes after a good
// handshake: it must end with an error or at the end of input, never
// panic, and never build or add anything without --write.
func FuzzServer(f *testing.F) {
	hello := &encoder{}
	hello.int(ClientMagic).int(ProtocolVersion)
	e := &encoder{}
	e.int(cmdQueryValidPaths).int(0).int(0).strs("/nix/store/a")
	f.Add(append(hello.Bytes(), e.Bytes()...))
	e = &encoder{}
	e.int(cmdBuildDerivation).str("/nix/store/a.drv").int(0).strs().str("x").str("b").strs().int(0).int(0).int(0).int(0).int(0).int(0).int(0)
	f.Add(append(hello.Bytes(), e.Bytes()...))
	f.Fuzz(func(t *testing.T, in []byte) {
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), io.Discard}
		s, err := Accept(rw, io.Discard, false)
		if err != nil {
			return
		}
		_ = s.Serve(t.Context(), refusingBackend{t})
	})
}

// refusingBackend answers queries with nothing and fails the test on
// writes, which a read-only session must not reach.
type refusingBackend struct{ t *testing.T }

func (refusingBackend) QueryValidPaths(context.Context, []string, bool, bool) ([]string, error) {
	return nil, nil
}
func (refusingBackend) QueryPathInfos(context.Context, []string) ([]PathInfo, error) { return nil, nil }
func (refusingBackend) QueryClosure(context.Context, []string, bool) ([]string, error) {
	return nil, nil
}
func (refusingBackend) DumpPath(context.Context, io.Writer, string) error { return io.EOF }
func (b refusingBackend) AddPath(context.Context, PathInfo, io.Reader) error {
	b.t.Fatal("AddPath in a read-only session")
	return nil
}
func (b refusingBackend) BuildDerivation(context.Context, string, BasicDerivation, BuildOptions, io.Writer) (BuildResult, error) {
	b.t.Fatal("BuildDerivation in a read-only session")
	return BuildResult{}, nil
}
func (b refusingBackend) BuildPaths(context.Context, []string, BuildOptions, io.Writer) (BuildResult, error) {
	b.t.Fatal("BuildPaths in a read-only session")
	return BuildResult{}, nil
}
