package hydraconf_test

import (
	"errors"
	"strings"
	"testing"

	"buildledger/domain/hydraconf"
)

// FuzzParse: any text either parses, and then interprets or fails with a
// message, or fails with a syntax error; it never panics, and an included
// file that includes itself ends.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"max_log_size = 1\n<ldap>\n<config>\nbindpw = x\n</config>\n</ldap>\n",
		"store_uri = file:///c?secret-key=/k&compression=xz\n# c\n/* x\n*/\n",
		"include /main\n",
		"include other\nx <<E\ny\nE\n",
		"a \\\nb\n<t arg/>\n</t>\n",
		`tracker = "q\#"` + "\n<git-input>\n<https://x/y.git>\ntimeout = 1\n</https://x/y.git>\n</git-input>\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		read := func(name string) ([]byte, error) {
			switch name {
			case "/main":
				return []byte(text), nil
			case "/other":
				return []byte("y = 2\n"), nil
			}
			return nil, errors.New("no such file")
		}
		b, err := hydraconf.Parse("/main", read)
		if err != nil {
			if !errors.Is(err, hydraconf.ErrSyntax) && !strings.Contains(err.Error(), "include") {
				t.Fatalf("error %v is neither a syntax nor an include error", err)
			}
			return
		}
		c, err := hydraconf.Interpret(b)
		if err != nil {
			return
		}
		for _, s := range c.Settings {
			if s.Flag == "" {
				t.Fatalf("setting %+v names no flag", s)
			}
		}
	})
}
