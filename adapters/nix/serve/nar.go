package serve

import (
	"errors"
	"fmt"
	"io"
)

const narMagic = "nix-archive-1"

// maxNARDepth bounds directory nesting while scanning a NAR.
const maxNARDepth = 512

// copyNAR copies exactly one NAR from src to dst and returns its size. It
// parses the NAR's structure to find where it ends, because the serve
// protocol sends NARs without a length prefix. The bytes are copied verbatim.
func copyNAR(dst io.Writer, src io.Reader) (int64, error) {
	s := &narScanner{dst: dst, src: src}
	if err := s.expect(narMagic); err != nil {
		return s.n, err
	}
	if err := s.node(0); err != nil {
		return s.n, err
	}
	return s.n, nil
}

type narScanner struct {
	dst io.Writer
	src io.Reader
	n   int64
}

// Read implements io.Reader, copying everything read to dst.
func (s *narScanner) Read(p []byte) (int, error) {
	n, err := s.src.Read(p)
	if n > 0 {
		if _, werr := s.dst.Write(p[:n]); werr != nil {
			return n, &writeError{werr}
		}
		s.n += int64(n)
	}
	return n, err
}

// writeError marks a failure of the destination, not of the NAR.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write NAR: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (s *narScanner) token(max uint64) (string, error) {
	t, err := readString(s, max)
	if err != nil {
		return "", fmt.Errorf("nar: %w", err)
	}
	return t, nil
}

func (s *narScanner) expect(want string) error {
	got, err := s.token(uint64(len(want)) + 64)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("nar: expected %q, got %q", want, got)
	}
	return nil
}

func (s *narScanner) node(depth int) error {
	if depth > maxNARDepth {
		return errors.New("nar: directories nested too deeply")
	}
	if err := s.expect("("); err != nil {
		return err
	}
	if err := s.expect("type"); err != nil {
		return err
	}
	typ, err := s.token(16)
	if err != nil {
		return err
	}
	switch typ {
	case "regular":
		tok, err := s.token(16)
		if err != nil {
			return err
		}
		if tok == "executable" {
			if err := s.expect(""); err != nil {
				return err
			}
			if tok, err = s.token(16); err != nil {
				return err
			}
		}
		if tok != "contents" {
			return fmt.Errorf("nar: expected \"contents\", got %q", tok)
		}
		if err := s.contents(); err != nil {
			return err
		}
	case "symlink":
		if err := s.expect("target"); err != nil {
			return err
		}
		if _, err := s.token(maxPathLen); err != nil {
			return err
		}
	case "directory":
		for {
			tok, err := s.token(16)
			if err != nil {
				return err
			}
			if tok == ")" {
				return nil
			}
			if tok != "entry" {
				return fmt.Errorf("nar: expected \"entry\" or \")\", got %q", tok)
			}
			if err := s.expect("("); err != nil {
				return err
			}
			if err := s.expect("name"); err != nil {
				return err
			}
			if _, err := s.token(maxNameLen); err != nil {
				return err
			}
			if err := s.expect("node"); err != nil {
				return err
			}
			if err := s.node(depth + 1); err != nil {
				return err
			}
			if err := s.expect(")"); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("nar: unknown node type %q", typ)
	}
	return s.expect(")")
}

// contents streams a file's contents (length, bytes, zero padding).
func (s *narScanner) contents() error {
	n, err := readInt(s)
	if err != nil {
		return fmt.Errorf("nar: contents length: %w", err)
	}
	if n > 1<<50 {
		return fmt.Errorf("nar: contents length %d too large", n)
	}
	if _, err := io.CopyN(io.Discard, s, int64(n)); err != nil {
		return fmt.Errorf("nar: contents: %w", noEOF(err))
	}
	if pad := (8 - n%8) % 8; pad > 0 {
		var buf [8]byte
		if _, err := io.ReadFull(s, buf[:pad]); err != nil {
			return fmt.Errorf("nar: padding: %w", noEOF(err))
		}
		for _, b := range buf[:pad] {
			if b != 0 {
				return errors.New("nar: non-zero padding")
			}
		}
	}
	return nil
}
