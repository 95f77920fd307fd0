// Package redact is the one home of the rules that keep secrets and
// personal data out of history views: the events tabs, `history`,
// `events tail` and `events export`, and the audit log's summaries. The
// log itself is immutable (its hash chain covers the bytes), so what an
// old event holds can only be hidden where it is shown.
package redact

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Mask replaces the secret part of a value.
const Mask = "***"

// hiddenKeys are payload fields never shown: old events' password hashes,
// and the clear personal fields of users recorded before profiles were
// sealed (UserCreated and UserUpdated version 1).
var hiddenKeys = []string{"passwordHash", "fullName", "emailAddress"}

// The patterns of credentials in free text. A URL's password (its
// userinfo after the colon) is masked, a bare user name is not: ssh://git@
// is no secret. Known token prefixes keep their prefix, so a reader sees
// which kind was there. An assignment's name must start a word that
// follows a separator, so the user name x-access-token: in a URL is left
// to the URL rule.
var (
	urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"']*:)[^/\s@"']+@`)
	tokenPrefix = regexp.MustCompile(`\b(ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|blt_)[A-Za-z0-9_-]+`)
	assignment  = regexp.MustCompile(`(?i)((?:^|[\s?&;,{(])(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key)\s*[=:]\s*)[^\s&;,"']+`)
)

// suspectWords are the words, in lower case, of which data must hold
// one for the rules to change it: the hidden keys, the token prefixes,
// the names an assignment uses and the @ of a URL's userinfo. Data with
// none is returned as it is, unparsed, which spares the audit log's
// projection a decode of nearly every event.
var suspectWords = []string{"passwordhash", "fullname", "emailaddress", "@", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
	"github_pat_", "glpat-", "blt_", "passw", "pwd", "token", "secret", "apikey", "api_key", "api-key",
	"accesskey", "access_key", "access-key"}

// suspectFolded finds suspectWords under Unicode's case folding, by which
// ſ (long s) is an s and the Kelvin sign a k: a lowered copy would miss
// them, so data that is not ASCII goes through it.
var suspectFolded = func() *regexp.Regexp {
	quoted := make([]string, len(suspectWords))
	for i, w := range suspectWords {
		quoted[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?i)` + strings.Join(quoted, "|"))
}()

// suspectPairs marks the pairs of lowered ASCII bytes that begin a
// suspect word of two bytes or more, and suspectAfter lists those words
// by their pair.
var suspectPairs, suspectAfter = func() (*[1 << 16]bool, map[uint16][]string) {
	var pairs [1 << 16]bool
	after := map[uint16][]string{}
	for _, w := range suspectWords {
		if len(w) >= 2 {
			p := uint16(w[0])<<8 | uint16(w[1])
			pairs[p] = true
			after[p] = append(after[p], w)
		}
	}
	return &pairs, after
}()

// suspect reports whether data holds one of suspectWords, in any case.
// ASCII data is searched in one pass, a byte pair at a time: 22 searches
// of a lowered copy cost 7.6 µs a kilobyte, still a third of the Go CPU
// of a replay of a real run's log, and the regexp alone (an alternation
// run by Go's backtracker) about 40 µs an event.
func suspect(data []byte) bool {
	for i, c := range data {
		if c >= utf8.RuneSelf {
			return suspectFolded.Match(data)
		}
		c = lowerASCII(c)
		if c == '@' {
			return true
		}
		if i+1 == len(data) || data[i+1] >= utf8.RuneSelf {
			continue // the next byte decides
		}
		p := uint16(c)<<8 | uint16(lowerASCII(data[i+1]))
		if !suspectPairs[p] {
			continue
		}
		for _, w := range suspectAfter[p] {
			if hasPrefixLowered(data[i:], w) {
				return true
			}
		}
	}
	return false
}

// lowerASCII lowers an ASCII letter.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixLowered reports whether data, lowered, begins with w.
func hasPrefixLowered(data []byte, w string) bool {
	if len(data) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if lowerASCII(data[i]) != w[i] {
			return false
		}
	}
	return true
}

// Value returns s with every credential-looking part masked: the password
// of a URL with userinfo, tokens with a known prefix (GitHub's ghp_ and
// kin, GitLab's glpat-, buildledger's blt_) and assignments such as
// password=…, token: ….
func Value(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+Mask+"@")
	s = tokenPrefix.ReplaceAllString(s, "${1}"+Mask)
	return assignment.ReplaceAllString(s, "${1}"+Mask)
}

// JSON returns an event's data as a history view may show it: without the
// hidden fields, and with every string value passed through Value. Data
// that needs no change, or is not JSON, is returned as it is.
func JSON(data []byte) []byte {
	if !suspect(data) {
		return data
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return data
	}
	v, changed := walk(v)
	if !changed {
		return data
	}
	out, err := json.Marshal(v)
	if err != nil {
		return data
	}
	return out
}

// walk redacts v in place and reports whether anything changed.
func walk(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		changed := false
		for k, e := range x {
			if slices.Contains(hiddenKeys, k) {
				delete(x, k)
				changed = true
				continue
			}
			var c bool
			if x[k], c = walk(e); c {
				changed = true
			}
		}
		return x, changed
	case []any:
		changed := false
		for i, e := range x {
			var c bool
			if x[i], c = walk(e); c {
				changed = true
			}
		}
		return x, changed
	case string:
		m := Value(x)
		return m, m != x
	}
	return v, false
}
