package nixsupport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxReleaseNameBytes is the most ParseReleaseName reads.
const MaxReleaseNameBytes = 4096

// ErrInvalidReleaseName is returned (wrapped) by ParseReleaseName for an
// empty, over-long or badly formed release name.
var ErrInvalidReleaseName = errors.New("invalid release name")

// ParseReleaseName reads a hydra-release-name file: its first line, with
// white space trimmed, which must match [a-zA-Z0-9.@:_-]+.
func ParseReleaseName(r io.Reader) (string, error) {
	buf, err := io.ReadAll(io.LimitReader(r, MaxReleaseNameBytes))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", ReleaseNameFile, err)
	}
	first, _, found := bytes.Cut(buf, []byte("\n"))
	if !found && len(buf) == MaxReleaseNameBytes {
		return "", fmt.Errorf("%s: %w: first line longer than %d bytes", ReleaseNameFile, ErrInvalidReleaseName, MaxReleaseNameBytes-1)
	}
	name := strings.TrimSpace(string(first))
	if !matches(name, false, isReleaseNameChar) {
		return "", fmt.Errorf("%s: %w: %q does not match [a-zA-Z0-9.@:_-]+", ReleaseNameFile, ErrInvalidReleaseName, truncate(name))
	}
	return name, nil
}

func isReleaseNameChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte(".@:_-", c) >= 0
}

func truncate(s string) string {
	if len(s) > maxSkippedText {
		return strings.ToValidUTF8(s[:maxSkippedText], "") + "…"
	}
	return s
}
