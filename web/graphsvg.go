package web

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
)

// maxSVGNodes bounds the drawn graph; bigger graphs are shown as the tree
// only.
const maxSVGNodes = 400

// Layout of the drawn graph, in SVG user units.
const (
	svgNodeW = 190
	svgNodeH = 34
	svgGapX  = 16
	svgGapY  = 46
	svgPad   = 8
)

// graphSVG draws the part of the graph reachable from roots: one row per
// depth (a derivation sits one row below the lowest derivation needing
// it), boxes coloured by state, edges from a derivation down to its
// inputs. It returns "" when there is nothing to draw or too much.
func graphSVG(nodes []GraphNode, edges []GraphEdge, roots []string) template.HTML {
	byDrv := map[string]GraphNode{}
	for _, n := range nodes {
		byDrv[n.DrvPath] = n
	}
	inputs := map[string][]string{}
	for _, e := range edges {
		inputs[e.DrvPath] = append(inputs[e.DrvPath], e.InputDrv)
	}
	// depth is the longest path from a root, found by relaxing in
	// breadth-first order; cycles (which a real graph has not) are cut by
	// the bound on the node count.
	depth := map[string]int{}
	queue := []string{}
	for _, r := range roots {
		if _, ok := depth[r]; !ok {
			depth[r] = 0
			queue = append(queue, r)
		}
	}
	for steps := 0; len(queue) > 0; steps++ {
		if steps > maxSVGNodes*maxSVGNodes || len(depth) > maxSVGNodes {
			return ""
		}
		d := queue[0]
		queue = queue[1:]
		for _, in := range inputs[d] {
			if old, ok := depth[in]; !ok || old < depth[d]+1 {
				depth[in] = depth[d] + 1
				queue = append(queue, in)
			}
		}
	}
	if len(depth) == 0 {
		return ""
	}
	rows := [][]string{}
	for d, k := range depth {
		for len(rows) <= k {
			rows = append(rows, nil)
		}
		rows[k] = append(rows[k], d)
	}
	widest := 0
	for _, row := range rows {
		sort.Slice(row, func(i, k int) bool { return shortPath(row[i]) < shortPath(row[k]) })
		widest = max(widest, len(row))
	}
	width := 2*svgPad + widest*svgNodeW + (widest-1)*svgGapX
	height := 2*svgPad + len(rows)*svgNodeH + (len(rows)-1)*svgGapY
	type point struct{ x, y int }
	at := map[string]point{}
	for k, row := range rows {
		rowW := len(row)*svgNodeW + (len(row)-1)*svgGapX
		x0 := (width - rowW) / 2
		for i, d := range row {
			at[d] = point{x0 + i*(svgNodeW+svgGapX), svgPad + k*(svgNodeH+svgGapY)}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" role="img" aria-label="build graph">`,
		width, height, width)
	drawn := make([]string, 0, len(at))
	for d := range at {
		drawn = append(drawn, d)
	}
	sort.Strings(drawn)
	for _, d := range drawn {
		from := at[d]
		for _, in := range inputs[d] {
			to := at[in]
			_, class := nodeState(byDrv[in])
			fmt.Fprintf(&b, `<line class="edge %s" x1="%d" y1="%d" x2="%d" y2="%d"/>`, class,
				from.x+svgNodeW/2, from.y+svgNodeH, to.x+svgNodeW/2, to.y)
		}
	}
	for _, d := range drawn {
		p := at[d]
		n := byDrv[d]
		state, class := nodeState(n)
		name := shortPath(d)
		label := strings.TrimSuffix(name, ".drv")
		if len(label) > 26 {
			label = label[:25] + "…"
		}
		title := d + ": " + state
		if n.Machine != "" {
			title += " on " + n.Machine
		}
		fmt.Fprintf(&b, `<g class="node %s" id="n-%s"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="6"/>`,
			class, template.HTMLEscapeString(strings.TrimSuffix(name, ".drv")), template.HTMLEscapeString(title),
			p.x, p.y, svgNodeW, svgNodeH)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text></g>`, p.x+svgNodeW/2, p.y+svgNodeH/2+5, template.HTMLEscapeString(label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from escaped parts above
}
