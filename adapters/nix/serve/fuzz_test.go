package serve

import (
	"bytes"
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
