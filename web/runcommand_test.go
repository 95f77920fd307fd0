package web_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/runcommand"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestRunCommandLogRoutes follows Hydra's RunCommand http.t: a run's
// output is at /runcommandlog/UUID and /build/N/runcommandlog/UUID, raw
// redirects to the file, an unknown or malformed uuid is not found, and
// a run is not shown under another build.
func TestRunCommandLogRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	const uuid = "01234567-89ab-4def-8123-456789abcdef"
	const other = "01234567-89ab-4def-8123-456789abcdee"
	code := 3
	e.appendEvents(streams.RunCommand(uuid),
		&events.RunCommandStarted{UUID: uuid, Key: "0123456789abcdef0123456789abcdef", JobMatcher: "*:*:*", BuildID: 1, Command: `echo <b>hi</b>`, StartTime: 10},
		&events.RunCommandFinished{UUID: uuid, EndTime: 11, ExitCode: &code})
	e.writeLog(runcommand.LogName(uuid), 0, "line 1\n<b>line 2</b>\n")
	e.catchUp()
	c := e.anon()
	checkLogRoutes(t, c, []logRoute{
		{"/runcommandlog/" + uuid, 200, "line 1\n<b>line 2</b>\n"},
		{"/runcommandlog/" + uuid + "?tail=1", 200, "<b>line 2</b>\n"},
		{"/runcommandlog/" + other, 404, `"error"`},
		{"/runcommandlog/some-invalid-or-nonexistent-uuid", 404, `"error"`},
		{"/runcommandlog/..%2F..%2Fetc%2Fpasswd", 404, `"error"`},
		{"/build/2/runcommandlog/" + uuid, 404, `"error"`},
		{"/build/1/runcommandlog/" + uuid + "/bogus", 404, `"error"`},
	})
	res := c.do("GET", "/build/1/runcommandlog/"+uuid+"/raw", nil)
	require.Equal(t, 302, res.code, res.body)
	require.Equal(t, "/runcommandlog/"+uuid, res.header.Get("Location"))
	res = c.do("GET", "/build/1/runcommandlog/some-invalid-or-nonexistent-uuid/raw", nil)
	require.Equal(t, 302, res.code, "raw redirects first, as Hydra; the file is then not found")

	page := c.do("GET", "/build/1/runcommandlog/"+uuid, nil, "Accept", "text/html")
	require.Equal(t, 200, page.code)
	require.Contains(t, page.body, "&lt;b&gt;line 2&lt;/b&gt;", "output is escaped")
	require.Contains(t, page.body, "echo &lt;b&gt;hi&lt;/b&gt;")
	require.NotContains(t, page.body, "<b>")
	tail := c.do("GET", "/build/1/runcommandlog/"+uuid+"/tail", nil, "Accept", "text/html")
	require.Equal(t, 200, tail.code)

	build := c.do("GET", "/build/1", nil, "Accept", "text/html")
	require.Equal(t, 200, build.code)
	require.Contains(t, build.body, "Exit code: 3")
	require.Contains(t, build.body, `href="/build/1/runcommandlog/`+uuid+`"`)
	require.NotContains(t, c.do("GET", "/build/2", nil, "Accept", "text/html").body, "RunCommand logs")
}
