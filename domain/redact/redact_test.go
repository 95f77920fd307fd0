package redact_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"buildledger/domain/redact"
)

func TestValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://bob:ghp_abcDEF123@github.com/acme/x.git main", "https://bob:***@github.com/acme/x.git main"},
		{"https://x-access-token:s3cr3t@gitlab.example/a.git", "https://x-access-token:***@gitlab.example/a.git"},
		{"https://ghp_abcDEF123@github.com/acme/x", "https://ghp_***@github.com/acme/x"},
		{"glpat-AbC_12-3", "glpat-***"},
		{"Bearer blt_Zm9vYmFy", "Bearer blt_***"},
		{"github_pat_11ABC_def", "github_pat_***"},
		{"db?user=x&password=hunter2&ssl=1", "db?user=x&password=***&ssl=1"},
		{"TOKEN: abc123", "TOKEN: ***"},
		{"api_key=k", "api_key=***"},
		// Not secrets: left alone.
		{"ssh://git@github.com/acme/x.git", "ssh://git@github.com/acme/x.git"},
		{"https://github.com/acme/x.git master", "https://github.com/acme/x.git master"},
		{"/nix/store/abc-hello-2.12", "/nix/store/abc-hello-2.12"},
		{"true", "true"},
	} {
		assert.Equal(t, tc.want, redact.Value(tc.in), tc.in)
	}
}

func TestJSON(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"old UserCreated loses its hash and clear profile",
			`{"userName":"bob","fullName":"Bob","emailAddress":"b@x.org","passwordHash":"$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA","type":"hydra"}`,
			`{"type":"hydra","userName":"bob"}`},
		{"jobset input values are masked",
			`{"project":"p","name":"j","inputs":[{"name":"src","type":"git","value":"https://bob:ghp_x1@github.com/a/b"}]}`,
			`{"inputs":[{"name":"src","type":"git","value":"https://bob:***@github.com/a/b"}],"name":"j","project":"p"}`},
		{"numbers keep their digits",
			`{"token":"blt_abc","id":12345678901234567890}`,
			`{"id":12345678901234567890,"token":"blt_***"}`},
		{"clean data is returned as it is", `{"buildId":3,"drvPath":"/nix/store/a-b.drv"}`, `{"buildId":3,"drvPath":"/nix/store/a-b.drv"}`},
		{"a suspect but clean payload keeps its bytes", `{"uri":"ssh://git@h/x", "n":1}`, `{"uri":"ssh://git@h/x", "n":1}`},
		{"not JSON", `ghp_abc`, `ghp_abc`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, string(redact.JSON([]byte(tc.in))))
		})
	}
}
