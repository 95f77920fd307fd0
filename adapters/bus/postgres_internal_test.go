package bus

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/stretchr/testify/require"
)

// TestWakeBackoff: an idle subscriber's wait ends with a wake-up, long
// before its poll interval (an hour here); it is left waiting once the
// bus closes, goes on at once after a message, and backs off as
// watermill-sql does after an error.
func TestWakeBackoff(t *testing.T) {
	tests := []struct {
		name    string
		noMsg   bool
		err     error
		wake    bool
		closing bool
		want    time.Duration
	}{
		{name: "woken", noMsg: true, wake: true, want: 0},
		{name: "closing", noMsg: true, closing: true, want: time.Hour},
		{name: "after a message", noMsg: false, want: 0},
		{name: "after an error", err: errors.New("connection refused"), want: 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wake := make(chan struct{}, 1)
			closing := make(chan struct{})
			if tt.wake {
				wake <- struct{}{}
			}
			if tt.closing {
				close(closing)
			}
			b := wakeBackoff{BackoffManager: wsql.NewDefaultBackoffManager(time.Hour, 3*time.Hour),
				wake: wake, poll: time.Hour, closing: closing}
			require.Equal(t, tt.want, b.HandleError(watermill.NopLogger{}, tt.noMsg, tt.err))
		})
	}
}
