package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"buildledger/web/browsertest"
)

// stepTimeout bounds every browser step.
const stepTimeout = 20 * time.Second

// do runs browser steps with a timeout.
func do(ctx context.Context, t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		body, _ := chromedp.Run(dctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nthe page at %s says:\n%.2000s", what, err, loc, body)
	}
}

// get runs one browser action that returns a value, with a timeout.
func get[T any](ctx context.Context, t *testing.T, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err, what)
	return v
}

// shooter saves full-page screenshots under docs/screenshots when
// BUILDLEDGER_SCREENSHOTS=1, so normal runs leave the tree alone.
type shooter struct {
	t   *testing.T
	dir string
}

func newShooter(t *testing.T) shooter {
	if os.Getenv("BUILDLEDGER_SCREENSHOTS") != "1" {
		return shooter{t: t}
	}
	dir := filepath.Join("..", "docs", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return shooter{t: t, dir: dir}
}

func (s shooter) shot(ctx context.Context, name string) {
	s.t.Helper()
	if s.dir == "" {
		return
	}
	buf := get(ctx, s.t, "screenshot "+name, chromedp.FullScreenshot(100))
	require.NoError(s.t, os.WriteFile(filepath.Join(s.dir, name+".png"), buf, 0o644))
}

// text returns the text of the first element matching the CSS selector.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	return get(ctx, t, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// TestBrowser drives the UI in headless Chromium against the real
// handler, Postgres, commands and a projector running in the background.
func TestBrowser(t *testing.T) {
	e := newEnv(t, envOpts{live: true})
	ctx := browsertest.New(t, 1280, 900)
	shots := newShooter(t)
	u := e.srv.URL
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		do(ctx, t, what, steps...)
	}

	// Sign in through the form.
	run("sign in",
		chromedp.Navigate(u+"/login"),
		chromedp.SendKeys(chromedp.CSS("#username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(`header a[href="/user/admin"]`)))

	// Create a project and a jobset through the forms.
	run("create project",
		chromedp.Navigate(u+"/create-project"),
		chromedp.SendKeys(chromedp.CSS("#name"), "webproj"),
		chromedp.SendKeys(chromedp.CSS("#displayname"), "Web Project"),
		chromedp.SendKeys(chromedp.CSS("#description"), "made in a browser"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Web Project")]`)))
	run("create jobset",
		chromedp.Click(chromedp.CSS(`a[href="/project/webproj/create-jobset"]`)),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "trunk"),
		chromedp.SendKeys(chromedp.CSS("#nixexprinput"), "src"),
		chromedp.SendKeys(chromedp.CSS("#nixexprpath"), "release.nix"),
		chromedp.SendKeys(chromedp.CSS("#inputs"), "src git https://example.org/webproj.git"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "trunk")]`)))
	require.Contains(t, text(ctx, t, "main"), "https://example.org/webproj.git", "the input typed in the form")

	// Evaluate: the request is an event on the jobset's stream.
	run("evaluate",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Evaluate now"]`)),
		// The jobset page that the request redirects to, not the one clicked.
		chromedp.WaitVisible(chromedp.CSS(`#triggered`)),
		chromedp.Click(chromedp.Search(`//nav[@class="tabs"]/a[.="Events"]`)),
		chromedp.WaitVisible(chromedp.Search(`//td[.="EvaluationRequested"]`)))
	events := text(ctx, t, "table")
	require.Contains(t, events, "JobsetCreated")
	require.Contains(t, events, "user:admin")

	// Screenshots of the main pages (seeded project p).
	for _, p := range []struct{ name, path, sel string }{
		{"projects", "/", "table"},
		{"project", "/project/p", "table"},
		{"jobset", "/jobset/p/j", "table"},
		{"eval", "/eval/2", "table"},
		{"build", "/build/1", "table"},
		{"build-log", "/build/1/log", "pre.log"},
		{"queue", "/queue", "table"},
		{"graph", "/eval/2/graph", "svg"},
		{"status", "/status", "table"},
	} {
		run(p.name, chromedp.Navigate(u+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
		shots.shot(ctx, p.name)
	}

	// The build graph: the failed library blocks both jobs.
	run("graph", chromedp.Navigate(u+"/eval/2/graph"), chromedp.WaitVisible(chromedp.CSS("svg")))
	graph := text(ctx, t, "main")
	require.Contains(t, graph, "lib-9")
	require.Contains(t, graph, "failed because of lib-9")
	nodes := get(ctx, t, "graph nodes", chromedp.Evaluate[int](`document.querySelectorAll("svg g.node").length`))
	require.Equal(t, 5, nodes, "lib-9, hello-5, fresh-6, and broken-2 and waiting-3 with no inputs")
	lib := get(ctx, t, "lib-9 node", chromedp.AttributeValue(chromedp.CSS(`svg g.node[id$="lib-9"]`), "class"))
	require.Equal(t, "node failed", lib.Value)
	edges := get(ctx, t, "graph edges", chromedp.Evaluate[int](`document.querySelectorAll("svg line.edge.failed").length`))
	require.Equal(t, 2, edges, "hello-5 and fresh-6 need the failed lib-9")

	// The live log: lines appended while the page is open appear.
	run("open log", chromedp.Navigate(u+"/build/3/log"), chromedp.WaitVisible(chromedp.Search(`//pre[contains(., "still building")]`)))
	require.Contains(t, text(ctx, t, "#log-status"), "follows live")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(e.waiting, "live line %d\n", i)
		run("live line", chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//pre[contains(., "live line %d")]`, i))))
	}
	shots.shot(ctx, "build-log-live")

	// Download a product: a real browser download of the tarball, and the
	// manual shown in the browser.
	dl := t.TempDir()
	yes := true
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: &yes})
	require.NoError(t, err, "download behaviour")
	dctx, cancelDownloads := context.WithTimeout(ctx, stepTimeout)
	defer cancelDownloads()
	progress := chromedp.BrowserEvents(dctx, browser.DownloadProgress)
	done := make(chan string, 1)
	go func() {
		for p, err := range progress {
			if err != nil {
				return
			}
			if p.State == browser.DownloadProgressStateCompleted {
				done <- p.GUID
				return
			}
		}
	}()
	run("click download", chromedp.Navigate(u+"/build/1"),
		chromedp.Click(chromedp.Search(`//a[.="hello.tar.gz"]`)))
	select {
	case guid := <-done:
		b, err := os.ReadFile(filepath.Join(dl, guid))
		require.NoError(t, err)
		require.Equal(t, "tarball", string(b))
	case <-time.After(20 * time.Second):
		t.Fatal("the download did not complete")
	}
	run("open manual", chromedp.Navigate(u+"/build/1"),
		chromedp.Click(chromedp.Search(`//a[.="manual"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[.="manual"]`)))

	// Restart a failed build: the status changes from Failed to Queued.
	run("open failed build", chromedp.Navigate(u+"/build/2"), chromedp.WaitVisible(chromedp.CSS(`.badge.failed`)))
	require.Equal(t, "Failed", strings.TrimSpace(text(ctx, t, "main p .badge")))
	run("restart",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Restart"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main p .badge.queued`)))
	require.Equal(t, "Queued", strings.TrimSpace(text(ctx, t, "main p .badge")))
	run("build events", chromedp.Navigate(u+"/build/2/events"), chromedp.WaitVisible(chromedp.Search(`//td[.="BuildRestarted"]`)))
}

// TestBrowserPhone renders the main pages 390 px wide (a phone) and checks
// that nothing is wider than the screen.
func TestBrowserPhone(t *testing.T) {
	e := newEnv(t, envOpts{live: true})
	ctx := browsertest.New(t, 390, 844)
	shots := newShooter(t)
	// Headless windows are at least 500 px wide: emulate the phone's screen.
	do(ctx, t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, p := range []struct{ name, path string }{
		{"phone-projects", "/"},
		{"phone-jobset", "/jobset/p/j"},
		{"phone-build", "/build/1"},
		{"phone-eval", "/eval/2"},
		{"phone-graph", "/eval/2/graph"},
	} {
		do(ctx, t, p.path, chromedp.Navigate(e.srv.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main")))
		width := get(ctx, t, "width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", p.path)
		shots.shot(ctx, p.name)
	}
}
