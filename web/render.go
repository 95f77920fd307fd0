package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"buildledger/domain/status"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	h := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// parseTemplates parses the layout and partials once per page.
func parseTemplates() (map[string]*template.Template, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", f, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes the template name inside the layout with data, whose
// page it fills in: the signed-in principal (or nil), the path and now.
func (s *server) render(w http.ResponseWriter, r *http.Request, code int, name string, data pageData) {
	t, ok := s.pages[name]
	if !ok {
		s.log.Error("no template", "page", name)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	*data.base() = page{Me: who(r), Path: r.URL.Path, Now: s.now().Unix()}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

var funcs = template.FuncMap{
	"percent":     func(f float64) float64 { return 100 * f },
	"statusText":  statusText,
	"statusClass": statusClass,
	"busyText":    func(b int) string { return status.BusyState(b).String() },
	"reltime":     reltime,
	"abstime":     abstime,
	"duration":    duration,
	"deref":       derefAny,
	"enabledText": enabledText,
	"bytes":       humanBytes,
	"short":       shortPath,
	"add":         func(a, b int) int { return a + b },
	"sub":         func(a, b int) int { return a - b },
	"hasRole":     func(p *principal, role string) bool { return p.hasRole(role) },
	"isOwner":     func(p *principal, pr Project) bool { return p.isOwner(pr) },
	"canAct": func(p *principal, role string, pr Project) bool {
		return p.hasRole(role) || p.isOwner(pr)
	},
	"join":      strings.Join,
	"hasString": func(l []string, v string) bool { return slices.Contains(l, v) },
	"stepWord":  statusWord,
	"stepClass": codeClass,
	"statusDescription": func(b Build) string {
		if b.BuildStatus == nil {
			return ""
		}
		return status.Code(*b.BuildStatus).Description()
	},
	"buildTable": func(builds []Build, now int64) buildTable { return buildTable{Builds: builds, Now: now} },
}

// statusText is Hydra's wording for a build: queued, running or the
// finished status.
func statusText(b Build) string {
	switch {
	case !bool(b.Finished) && b.Busy:
		return "Running"
	case !bool(b.Finished):
		return "Queued"
	case b.BuildStatus == nil:
		return "Unknown"
	}
	return statusWord(*b.BuildStatus)
}

func statusWord(c int) string {
	switch status.Code(c) {
	case status.Success:
		return "Succeeded"
	case status.Failed:
		return "Failed"
	case status.DepFailed:
		return "Dependency failed"
	case status.Aborted, status.Unsupported:
		return "Aborted"
	case status.Cancelled:
		return "Cancelled"
	case status.FailedWithOutput:
		return "Failed with output"
	case status.TimedOut:
		return "Timed out"
	case status.CachedFailure:
		return "Cached failure"
	case status.LogLimitExceeded:
		return "Log limit exceeded"
	case status.NarSizeLimitExceeded:
		return "Output limit exceeded"
	case status.NotDeterministic:
		return "Non-deterministic"
	}
	return "Failed"
}

func statusClass(b Build) string {
	switch {
	case !bool(b.Finished) && b.Busy:
		return "running"
	case !bool(b.Finished):
		return "queued"
	case b.BuildStatus == nil:
		return "unknown"
	}
	return codeClass(*b.BuildStatus)
}

func codeClass(c int) string {
	switch status.Code(c) {
	case status.Success:
		return "ok"
	case status.Aborted, status.Cancelled, status.Unsupported:
		return "aborted"
	case status.DepFailed:
		return "depfailed"
	}
	return "failed"
}

func derefAny(v any) any {
	switch p := v.(type) {
	case *string:
		if p == nil {
			return ""
		}
		return *p
	case *int64:
		if p == nil {
			return int64(0)
		}
		return *p
	case *int:
		if p == nil {
			return 0
		}
		return *p
	}
	return v
}

func toUnix(v any) int64 {
	switch t := v.(type) {
	case int64:
		return t
	case *int64:
		if t != nil {
			return *t
		}
	case int:
		return int64(t)
	}
	return 0
}

// abstime formats a Unix time in UTC.
func abstime(v any) string {
	t := toUnix(v)
	if t == 0 {
		return ""
	}
	return time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

// reltime is a <time> element with a relative date and the absolute one
// on hover.
func reltime(v any, now int64) template.HTML {
	t := toUnix(v)
	if t == 0 {
		return template.HTML(`<span class="muted">never</span>`)
	}
	d := now - t
	var rel string
	switch {
	case d < 0:
		rel = "in the future"
	case d < 60:
		rel = "just now"
	case d < 3600:
		rel = fmt.Sprintf("%d min ago", d/60)
	case d < 86400:
		rel = fmt.Sprintf("%d h ago", d/3600)
	case d < 86400*60:
		rel = fmt.Sprintf("%d days ago", d/86400)
	default:
		rel = time.Unix(t, 0).UTC().Format("2006-01-02")
	}
	abs := time.Unix(t, 0).UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		abs.Format(time.RFC3339), abs.Format("2006-01-02 15:04:05 UTC"), template.HTMLEscapeString(rel)))
}

// duration formats stop-start.
func duration(start, stop any) string {
	a, b := toUnix(start), toUnix(stop)
	if a == 0 || b == 0 || b < a {
		return ""
	}
	return (time.Duration(b-a) * time.Second).String()
}

func enabledText(e int) string {
	switch e {
	case 0:
		return "disabled"
	case 1:
		return "enabled"
	case 2:
		return "one-shot"
	case 3:
		return "one-at-a-time"
	}
	return fmt.Sprint(e)
}

func humanBytes(v any) string {
	n := toUnix(v)
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shortPath strips /nix/store/ and the hash from a store path.
func shortPath(p string) string {
	base := path.Base(p)
	if i := strings.IndexByte(base, '-'); i == 32 {
		return base[i+1:]
	}
	return base
}
