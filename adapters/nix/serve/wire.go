package serve

import (
	"errors"
	"fmt"
	"io"

	"github.com/nix-community/go-nix/pkg/wire"
)

// Limits on what a response may contain, so a broken or hostile peer cannot
// make the client allocate without bound.
const (
	maxPathLen    = 4096
	maxMessageLen = 1 << 20
	maxListLen    = 1 << 20
	maxNameLen    = 256
)

func writeInt(w io.Writer, n uint64) error { return wire.WriteUint64(w, n) }

func writeBool(w io.Writer, b bool) error {
	if b {
		return writeInt(w, 1)
	}
	return writeInt(w, 0)
}

func writeString(w io.Writer, s string) error { return wire.WriteString(w, s) }

func writeStrings(w io.Writer, ss []string) error {
	if err := writeInt(w, uint64(len(ss))); err != nil {
		return err
	}
	for _, s := range ss {
		if err := writeString(w, s); err != nil {
			return err
		}
	}
	return nil
}

func readInt(r io.Reader) (uint64, error) {
	n, err := wire.ReadUint64(r)
	if err != nil {
		return 0, noEOF(err)
	}
	return n, nil
}

// readBool reads an integer and treats any non-zero value as true, as Nix does.
func readBool(r io.Reader) (bool, error) {
	n, err := readInt(r)
	return n != 0, err
}

// readString reads a length-prefixed, zero-padded string. Unlike
// wire.ReadString it reports short or non-zero padding.
func readString(r io.Reader, max uint64) (string, error) {
	n, err := readInt(r)
	if err != nil {
		return "", err
	}
	if n > max {
		return "", fmt.Errorf("string of %d bytes exceeds limit %d", n, max)
	}
	buf := make([]byte, n+(8-n%8)%8)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", noEOF(err)
	}
	for _, b := range buf[n:] {
		if b != 0 {
			return "", errors.New("non-zero string padding")
		}
	}
	return string(buf[:n]), nil
}

func readStrings(r io.Reader, maxLen uint64) ([]string, error) {
	n, err := readInt(r)
	if err != nil {
		return nil, err
	}
	if n > maxListLen {
		return nil, fmt.Errorf("list of %d strings exceeds limit %d", n, maxListLen)
	}
	out := make([]string, 0, min(n, 1024))
	for i := uint64(0); i < n; i++ {
		s, err := readString(r, maxLen)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// noEOF turns a clean EOF in the middle of a response into
// io.ErrUnexpectedEOF: the server closed the stream, usually after printing
// an error on its stderr.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
