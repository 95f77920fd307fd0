package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// metricChart shows one metric of a job across all its builds, as Hydra
// does: JSON (oldest first) for clients, a line chart drawn as SVG on the
// server for browsers. A metric the job never had is an empty list; only
// a missing jobset is a 404.
func (s *server) metricChart(w http.ResponseWriter, r *http.Request) error {
	p, j, job, err := s.jobOf(r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	pts, err := s.cfg.Queries.MetricHistory(r.Context(), p, j, job, name)
	if err != nil {
		return err
	}
	var chart template.HTML
	if len(pts) > 0 {
		chart = metricSVG(pts)
	}
	s.respond(w, r, pts, "metric", &metricPage{
		Project: p, Jobset: j, Job: job, Name: name, Points: pts, Chart: chart,
	})
	return nil
}

// metricPage is the history of one metric of a job (metric.html).
type metricPage struct {
	page
	Project, Jobset, Job, Name string
	Points                     []MetricPoint
	Chart                      template.HTML
}

// metricSVG draws the values as a polyline with the lowest and highest
// value labelled; every point links to its build.
func metricSVG(pts []MetricPoint) template.HTML {
	const width, height, pad = 720.0, 240.0, 40.0
	lo, hi := pts[0].Value, pts[0].Value
	for _, p := range pts {
		lo, hi = min(lo, p.Value), max(hi, p.Value)
	}
	span := hi - lo
	if span == 0 {
		span = 1
	}
	x := func(i int) float64 {
		if len(pts) == 1 {
			return width / 2
		}
		return pad + float64(i)*(width-2*pad)/float64(len(pts)-1)
	}
	y := func(v float64) float64 { return height - pad - (v-lo)/span*(height-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="metric-chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="metric values">`, width, height)
	fmt.Fprintf(&b, `<text x="4" y="%.1f" font-size="11">%s</text><text x="4" y="%.1f" font-size="11">%s</text>`,
		y(hi)+4, template.HTMLEscapeString(fmt.Sprint(hi)), y(lo)+4, template.HTMLEscapeString(fmt.Sprint(lo)))
	b.WriteString(`<polyline fill="none" stroke="#2563eb" stroke-width="2" points="`)
	for i, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", x(i), y(p.Value))
	}
	b.WriteString(`"/>`)
	for i, p := range pts {
		fmt.Fprintf(&b, `<a href="/build/%d"><circle cx="%.1f" cy="%.1f" r="3" fill="#2563eb"><title>build %d: %s %s</title></circle></a>`,
			p.Build, x(i), y(p.Value), p.Build, template.HTMLEscapeString(fmt.Sprint(p.Value)), template.HTMLEscapeString(p.Unit))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
