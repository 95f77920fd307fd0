package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/events"
	"buildledger/web"
)

// TestSearchCaps: /search answers a bounded number of rows per section,
// Hydra's 10 unless ?limit= asks for up to 50, and refuses queries too
// short to be selective or too long to be a name or a store path.
func TestSearchCaps(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := range web.MaxSearchRows + 5 {
		_, err := e.h.CreateProject(e.ctx, e.md(), commands.CreateProject{Name: fmt.Sprintf("many%02d", i),
			Config: events.ProjectConfig{DisplayName: "Many", Owner: "owner", Enabled: true}})
		require.NoError(t, err)
	}
	e.catchUp()
	c := e.anon()
	tests := []struct {
		query    string
		code     int
		projects int
		err      string
	}{
		{"query=many", 200, 10, ""},
		{"query=many&limit=3", 200, 3, ""},
		{"query=many&limit=100000", 200, web.MaxSearchRows, ""},
		{"query=many&limit=-1", 200, 10, ""},
		{"query=m", 400, 0, "query must have at least 2 characters"},
		{"query=" + strings.Repeat("m", 257), 400, 0, "query must have at most 256 characters"},
		{"query=" + strings.Repeat("m", 256), 200, 0, ""},
		{"query=ma%25ny", 400, 0, "invalid character in query"},
		{"query=", 400, 0, "missing query"},
	}
	for _, tt := range tests {
		res := c.do("GET", "/search?"+tt.query, nil)
		require.Equal(t, tt.code, res.code, "%s: %s", tt.query, res.body)
		if tt.code != http.StatusOK {
			require.Contains(t, res.body, tt.err, tt.query)
			continue
		}
		var got web.SearchResult
		res.json(t, &got)
		require.Len(t, got.Projects, tt.projects, tt.query)
		require.NotNil(t, got.Jobsets, "Hydra's shape: every section is a list")
		require.NotNil(t, got.Builds)
		require.NotNil(t, got.BuildsDrv)
	}
}

// countingLogs is the log store, counting the followers started on it.
type countingLogs struct {
	web.Logs
	mu      sync.Mutex
	follows int
}

func (c *countingLogs) Follow(ctx context.Context, location string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.follows++
	c.mu.Unlock()
	return c.Logs.Follow(ctx, location)
}

func (c *countingLogs) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.follows
}

// TestLogStreamFanOut: every watcher of a running step shares one
// follower of its log, whichever URL it watches and whenever it joins,
// and each sees the whole log in order.
func TestLogStreamFanOut(t *testing.T) {
	var logs *countingLogs
	// live: the projector runs on its own, as concurrent requests must
	// not each catch up.
	e := newEnv(t, envOpts{live: true, cfg: func(c *web.Config) {
		logs = &countingLogs{Logs: c.Logs}
		c.Logs = logs
	}})
	var watchers []<-chan string
	for i := range 6 {
		url := "/build/3/log/stream"
		if i%2 == 1 {
			url = "/build/3/step/1/log/stream"
		}
		ev := streamEvents(t, e.srv.URL+url)
		require.Equal(t, "data: still building", nextEvent(t, ev))
		watchers = append(watchers, ev)
	}
	fmt.Fprint(e.waiting, "more output\n")
	for _, ev := range watchers {
		require.Equal(t, "data: more output", nextEvent(t, ev))
	}
	late := streamEvents(t, e.srv.URL+"/build/3/log/stream")
	require.Equal(t, "data: still building", nextEvent(t, late), "a late watcher reads the log from its start")
	require.Equal(t, "data: more output", nextEvent(t, late))
	watchers = append(watchers, late)
	fmt.Fprint(e.waiting, "last line\n")
	_, err := e.waiting.Close()
	require.NoError(t, err)
	for _, ev := range watchers {
		require.Equal(t, "data: last line", nextEvent(t, ev))
		require.Equal(t, "event: end", nextEvent(t, ev))
	}
	require.Equal(t, 1, logs.count(), "one follower for seven watchers")
}

// TestLogStreamCaps: streams are capped per client address and in all;
// beyond either cap a stream is refused with 429 and a JSON error, and a
// closed stream makes room again.
func TestLogStreamCaps(t *testing.T) {
	e := newEnv(t, envOpts{live: true, cfg: func(c *web.Config) {
		c.StreamsPerClient, c.Streams = 2, 3
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	open := func(client string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/build/3/log/stream", nil)
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-For", client)
		req.Header.Set("Accept", "text/event-stream") // as EventSource sends
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() {
			cancel()
			res.Body.Close()
		})
		return res, cancel
	}
	refused := func(res *http.Response) {
		t.Helper()
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.JSONEq(t, `{"error":"too many log streams open: close some and try again"}`, string(b))
	}
	a1, closeA1 := open("192.0.2.1")
	require.Equal(t, http.StatusOK, a1.StatusCode)
	a2, _ := open("192.0.2.1")
	require.Equal(t, http.StatusOK, a2.StatusCode)
	a3, _ := open("192.0.2.1")
	refused(a3)
	b1, _ := open("192.0.2.2")
	require.Equal(t, http.StatusOK, b1.StatusCode, "another client has streams of its own")
	b2, _ := open("192.0.2.2")
	refused(b2) // three in all
	closeA1()
	a1.Body.Close()
	for {
		res, _ := open("192.0.2.2")
		if res.StatusCode == http.StatusOK {
			break
		}
		refused(res) // until the server sees the closed stream end
		time.Sleep(10 * time.Millisecond)
	}
}
