package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"buildledger/domain/domainerr"
)

// TestStatusOf: each error kind of domainerr has its one status, wrapped
// or not.
func TestStatusOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"field", domainerr.Invalid("name", "bad"), http.StatusUnprocessableEntity},
		{"not found", domainerr.NotFound("build", "7"), http.StatusNotFound},
		{"exists", domainerr.AlreadyExists("project", "p"), http.StatusConflict},
		{"wrong state", domainerr.Conflict("build %d has not finished", 7), http.StatusConflict},
		{"wrapped wrong state", fmt.Errorf("restart: %w", domainerr.Conflict("build 7 has not finished")), http.StatusConflict},
		{"busy", domainerr.Busy("replay running"), http.StatusTooManyRequests},
		{"unknown", errors.New("disk on fire"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, _ := statusOf(tt.err)
			assert.Equal(t, tt.want, code)
		})
	}
}

// TestFailTransient: an error the configured classifier calls transient
// answers 503 with Retry-After and without its text; others are left to
// statusOf.
func TestFailTransient(t *testing.T) {
	outage := errors.New("dial unix /secret/socket: connection refused")
	s := &server{cfg: Config{Transient: func(err error) bool { return errors.Is(err, outage) }}, log: slog.New(slog.DiscardHandler)}
	for _, tt := range []struct {
		name  string
		err   error
		code  int
		retry string
	}{
		{"transient", fmt.Errorf("query builds: %w", outage), http.StatusServiceUnavailable, "5"},
		{"not found", domainerr.NotFound("build", "7"), http.StatusNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/build/7", nil)
			r.Header.Set("Accept", "application/json")
			s.fail(w, r, tt.err)
			assert.Equal(t, tt.code, w.Code)
			assert.Equal(t, tt.retry, w.Header().Get("Retry-After"))
			assert.NotContains(t, w.Body.String(), "/secret/socket")
		})
	}
}
