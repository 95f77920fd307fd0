package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/web"
)

// TestLogs reads finished logs, written by the log store's writer, on
// every log route, and the errors of the log routes.
func TestLogs(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	checkLogRoutes(t, c, []logRoute{
		{"/build/1/log/raw", 200, "building hello\nline 2\ndone\n"},
		{"/build/1/log/tail?tail=2", 200, "line 2\ndone\n"},
		{"/build/1/log/tail", 200, "building hello\nline 2\ndone\n"},
		{"/build/1/step/1/log/raw", 200, "building hello\nline 2\ndone\n"},
		{"/build/2/log/raw", 200, "log of broken\n"},
		{"/build/5/log/raw", 404, `"error":"log of build \"5\": not found"`},
		{"/build/1/step/9/log/raw", 404, `"error"`},
		{"/build/1/step/x/log", 404, `"error":"step \"x\" not found"`},
		{"/build/99/log", 404, `"error"`},
		// A recorded location outside the log store is refused.
		{"/build/4/log/raw", 500, `"error":"internal server error"`},
	})
	res := c.do("GET", "/build/1/log", nil, "Accept", "text/html")
	require.Contains(t, res.body, "building hello")
	require.NotContains(t, res.body, "log.js", "a finished log does not stream")
	events := streamEvents(t, e.srv.URL+"/build/1/step/1/log/stream")
	for _, want := range []string{"data: building hello", "data: line 2", "data: done", "event: end"} {
		require.Equal(t, want, nextEvent(t, events), "a finished log streams whole, then ends")
	}
}

// TestRunningLog reads build 3's log while its step runs: the log store's
// writer is open (the file is still ".part") and the attempt has no
// recorded log. Every route shows what was written so far, and the
// stream follows the writer until it closes the log.
func TestRunningLog(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	for _, p := range []string{"/build/3/log/raw", "/build/3/log/tail?tail=5", "/build/3/step/1/log/raw"} {
		res := c.do("GET", p, nil)
		require.Equal(t, 200, res.code, "%s: %s", p, res.body)
		require.Equal(t, "still building\n", res.body, p)
	}
	res := c.do("GET", "/build/3/log", nil, "Accept", "text/html")
	require.Contains(t, res.body, "still building")
	require.Contains(t, res.body, `data-stream="/build/3/log/stream"`)

	events := streamEvents(t, e.srv.URL+"/build/3/log/stream")
	require.Equal(t, "data: still building", nextEvent(t, events))
	fmt.Fprint(e.waiting, "more output\n")
	start := time.Now()
	require.Equal(t, "data: more output", nextEvent(t, events))
	require.Less(t, time.Since(start), time.Second, "a written line reaches the stream within a second")
	require.Equal(t, "still building\nmore output\n", c.do("GET", "/build/3/log/raw", nil).body)
	require.Equal(t, "more output\n", c.do("GET", "/build/3/log/tail?tail=1", nil).body)

	fmt.Fprint(e.waiting, "last line\n")
	_, err := e.waiting.Close()
	require.NoError(t, err)
	require.Equal(t, "data: last line", nextEvent(t, events))
	require.Equal(t, "event: end", nextEvent(t, events), "the stream ends when the writer closes the log")
	require.Equal(t, "still building\nmore output\nlast line\n", c.do("GET", "/build/3/log/raw", nil).body)
}

// TestHydraLogURLs checks Hydra's other log URLs: the old nixlog ones
// redirect, and /log/DRVFILE (also under the binary cache, where
// `nix log --store` looks) serves the newest attempt's log as text.
func TestHydraLogURLs(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) {
		c.StoreDir = "/nix/store"
		c.BinaryCache = binarycache.NewHandler(t.TempDir(), nil)
	}})
	c := e.anon()
	hello, waiting := path.Base(drv("hello-1")), path.Base(drv("waiting-3"))
	checkLogRoutes(t, c, []logRoute{
		{"/build/1/nixlog/1", 301, "/build/1/step/1/log"},
		{"/build/1/nixlog/1/raw", 301, "/build/1/step/1/log/raw"},
		{"/build/1/nixlog/1/tail?tail=2", 301, "/build/1/step/1/log/tail?tail=2"},
		{"/build/1/nixlog/9/raw", 301, "/build/1/step/9/log/raw"},
		{"/build/1/nixlog/x", 404, `"error":"step \"x\" not found"`},
		{"/build/1/nixlog/1/pretty", 404, `"error":"log mode \"pretty\" not found"`},
		{"/build/99/nixlog/1", 404, `"error"`},
		{"/log/" + hello, 200, "building hello\nline 2\ndone\n"},
		{"/log/" + hello + "?tail=1", 200, "done\n"},
		{"/log/" + hello + "?tail=", 200, "building hello\nline 2\ndone\n"},
		{"/nix-cache/log/" + hello, 200, "building hello\nline 2\ndone\n"},
		{"/log/" + waiting, 200, "still building\n"},
		{"/log/" + hello + "?tail=x", 400, `"error":"tail \"x\" is not a number of lines"`},
		{"/log/..", 400, `"error"`},
		{"/log/%2e%2e", 400, `"error"`},
		{"/log/..%2fsecret.txt", 400, `"error"`},
		{"/nix-cache/log/..%2F..%2Fsecret.txt", 400, `"error"`},
		{"/log/" + strings.TrimSuffix(hello, ".drv"), 400, `is not the file name of a derivation`},
		{"/log/" + path.Base(drv("nothing-7")), 404, `"error":"log of derivation`},
	})
	require.Equal(t, "line 2\ndone\n", c.do("GET", "/build/1/step/1/log/tail?tail=2", nil).body, "where the redirect goes")
}

// logRoute is a request of a log route and what it answers.
type logRoute struct {
	path string
	code int
	// body is the whole body of a 200, the Location of a 301, and a part
	// of any other answer.
	body string
}

// checkLogRoutes sends each request as a JSON client: logs come as text,
// errors as JSON.
func checkLogRoutes(t *testing.T, c *client, routes []logRoute) {
	t.Helper()
	for _, tc := range routes {
		res := c.do("GET", tc.path, nil)
		require.Equal(t, tc.code, res.code, "%s: %s", tc.path, res.body)
		switch tc.code {
		case 200:
			require.Equal(t, tc.body, res.body, tc.path)
			require.Equal(t, "text/plain; charset=utf-8", res.header.Get("Content-Type"), tc.path)
		case 301:
			require.Equal(t, tc.body, res.header.Get("Location"), tc.path)
		default:
			require.Contains(t, res.body, tc.body, tc.path)
			require.Equal(t, "application/json", res.header.Get("Content-Type"), tc.path)
		}
	}
}

// streamEvents opens a server-sent event stream and returns its "data:"
// and "event:" lines as they arrive; the channel closes with the stream.
func streamEvents(t *testing.T, url string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	ch := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data: ") || strings.HasPrefix(l, "event: ") {
				ch <- l
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		res.Body.Close()
		<-done
	})
	return ch
}

// nextEvent returns the next line of a stream, skipping the empty data
// line of an "end" event.
func nextEvent(t *testing.T, events <-chan string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-events:
			require.True(t, ok, "the stream ended")
			if l != "data: " {
				return l
			}
		case <-time.After(10 * time.Second):
			require.FailNow(t, "no event within 10 s")
		}
	}
}

// TestStreamFraming: a log line cannot forge server-sent events (a
// carriage return ends a field in that format), and a line with no
// newline goes out in bounded pieces.
func TestStreamFraming(t *testing.T) {
	e := newEnv(t, envOpts{})
	res, err := http.Get(e.srv.URL + "/build/3/log/stream")
	require.NoError(t, err)
	defer res.Body.Close()
	fmt.Fprint(e.waiting, "progress 10%\rprogress 100%\revent: end\rdata: injected\n")
	fmt.Fprint(e.waiting, strings.Repeat("x", 200<<10)+"\n")
	_, err = e.waiting.Close()
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	// Lines as an event-stream client splits them: at CRLF, CR or LF.
	lines := strings.FieldsFunc(strings.ReplaceAll(string(body), "\r\n", "\n"), func(r rune) bool { return r == '\r' || r == '\n' })
	var ends, pieces int
	for _, l := range lines {
		require.LessOrEqual(t, len(l), len("data: ")+64<<10, "one event's field is bounded")
		switch {
		case l == "event: end":
			ends++
		case strings.HasPrefix(l, "data: xxx"):
			pieces++
		}
	}
	require.Equal(t, 1, ends, "only the server ends the stream")
	require.Equal(t, "event: end", lines[len(lines)-2])
	require.Contains(t, lines, "data: event: end", "the log's text stays data")
	require.Equal(t, 4, pieces, "200 KiB go out in 64 KiB pieces")
}

// TestStreamOutlivesWriteTimeout: the server's write timeout bounds every
// answer but a log stream, which lasts as long as its step.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	e := newEnv(t, envOpts{})
	srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	events := streamEvents(t, srv.URL+"/build/3/log/stream")
	require.Equal(t, "data: still building", nextEvent(t, events))
	time.Sleep(3 * srv.Config.WriteTimeout)
	fmt.Fprint(e.waiting, "after the timeout\n")
	require.Equal(t, "data: after the timeout", nextEvent(t, events))
}
