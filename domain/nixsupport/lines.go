package nixsupport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Default limits used for a zero field of Limits.
const (
	DefaultMaxBytes     = 1 << 20
	DefaultMaxLineBytes = 16 << 10
)

// ErrTooLarge is returned (wrapped) when a file is larger than its limit.
var ErrTooLarge = errors.New("file too large")

// Limits bounds how much of a nix-support file a parser reads.
type Limits struct {
	// MaxBytes is the most bytes read from the file; more stops the
	// parser with ErrTooLarge. Zero means DefaultMaxBytes.
	MaxBytes int64
	// MaxLineBytes is the longest line accepted; a longer line is skipped.
	// Zero means DefaultMaxLineBytes.
	MaxLineBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultMaxLineBytes
	}
	return l
}

// Skipped is a line a parser did not use, and why.
type Skipped struct {
	// File is the file the line comes from, when known (set by Scan).
	File string
	// Line is the 1-based line number.
	Line int
	// Text is the line, cut to at most 200 bytes.
	Text string
	// Reason says why the line was not used.
	Reason string
}

const maxSkippedText = 200

func newSkipped(no int, line, reason string) Skipped {
	if len(line) > maxSkippedText {
		line = strings.ToValidUTF8(line[:maxSkippedText], "") + "…"
	}
	return Skipped{Line: no, Text: line, Reason: reason}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// scanLines calls handle for every non-blank line of r, trimmed of
// surrounding white space. A line handle rejects, an over-long line and a
// line that is not valid UTF-8 or holds a NUL byte are returned as
// Skipped. Reading stops with an error on a read error or when r holds
// more than lim.MaxBytes; the line cut short is then dropped.
func scanLines(r io.Reader, lim Limits, handle func(no int, line string) error) ([]Skipped, error) {
	lim = lim.withDefaults()
	cr := &countingReader{r: io.LimitReader(r, lim.MaxBytes+1)}
	br := bufio.NewReader(cr)
	var (
		skipped []Skipped
		line    []byte
		tooLong bool
		no      int
	)
	finish := func() {
		no++
		switch {
		case tooLong:
			skipped = append(skipped, newSkipped(no, string(line), fmt.Sprintf("line longer than %d bytes", lim.MaxLineBytes)))
		default:
			if s, ok := checkLine(no, line); !ok {
				skipped = append(skipped, s)
				break
			}
			text := strings.TrimSpace(string(line))
			if text == "" {
				break
			}
			if err := handle(no, text); err != nil {
				skipped = append(skipped, newSkipped(no, text, err.Error()))
			}
		}
		line = line[:0]
		tooLong = false
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			if len(bytes.TrimSuffix(line, []byte("\n"))) > lim.MaxLineBytes {
				tooLong = true
				line = line[:min(len(line), maxSkippedText)]
			}
		}
		switch {
		case err == nil:
			line = bytes.TrimSuffix(line, []byte("\n"))
			finish()
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if cr.n > lim.MaxBytes {
				return skipped, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxBytes)
			}
			if len(line) > 0 || tooLong {
				finish()
			}
			return skipped, nil
		default:
			return skipped, fmt.Errorf("read line %d: %w", no+1, err)
		}
	}
}

// checkLine rejects a line that is not valid UTF-8 or holds a NUL byte:
// neither survives JSON events and Postgres text unchanged.
func checkLine(no int, line []byte) (Skipped, bool) {
	if !utf8.Valid(line) {
		return newSkipped(no, string(line), "not valid UTF-8"), false
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return newSkipped(no, strings.ReplaceAll(string(line), "\x00", `\0`), "contains a NUL byte"), false
	}
	return Skipped{}, true
}

// isSpace reports whether c is white space as POSIX [[:space:]] means it.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// nextField splits s into its first white-space-free field and the rest,
// with leading white space removed from both.
func nextField(s string) (field, rest string) {
	s = trimLeftSpace(s)
	i := 0
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	return s[:i], trimLeftSpace(s[i:])
}

func trimLeftSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

// matches reports whether s is non-empty (or may be empty, when
// allowEmpty) and every byte of s satisfies ok.
func matches(s string, allowEmpty bool, ok func(c byte) bool) bool {
	if s == "" {
		return allowEmpty
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// sortSkipped orders skipped lines by line number, keeping the order of
// entries for the same line.
func sortSkipped(s []Skipped) {
	slices.SortStableFunc(s, func(a, b Skipped) int { return a.Line - b.Line })
}
