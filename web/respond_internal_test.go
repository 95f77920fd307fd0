package web

import (
	"errors"
	"fmt"
	"net/http"
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
