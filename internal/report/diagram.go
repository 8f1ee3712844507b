package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

const (
	boxH, boxGapY, diagPad = 52.0, 36.0, 24.0
)

// box is one node of the diagram.
type box struct {
	name, kind string
	x, y, w    float64
	faulted    string // the fault on this node, "" when none
}

func (b box) cx() float64 { return b.x + b.w/2 }
func (b box) cy() float64 { return b.y + boxH/2 }

// area is a rectangle the diagram has drawn something in: a box or a label.
type area struct{ x0, y0, x1, y1 float64 }

func (a area) overlap(b area) float64 {
	w, h := math.Min(a.x1, b.x1)-math.Max(a.x0, b.x0), math.Min(a.y1, b.y1)-math.Max(a.y0, b.y0)
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

// labelArea is where a link's label (centred above (x, y)) and its fault tag
// (below it), if any, are drawn.
func labelArea(x, y float64, label, tag string) area {
	w := textWidth(label, 12)
	a := area{x - w/2 - 2, y - 22, x + w/2 + 2, y - 6}
	if tag != "" {
		tw := textWidth(tag, 12)
		a.x0, a.x1 = math.Min(a.x0, x-tw/2-2), math.Max(a.x1, x+tw/2+2)
		a.y1 = y + 24
	}
	return a
}

// placer puts each label where it overlaps the least of what is drawn
// already: the first of its candidates (in the order given, the preferred
// first) that overlaps nothing, else the one that overlaps least. Without
// it, labels of links that cross or run side by side were drawn on top of
// each other (seen in the replication and multi-dc diagrams).
type placer struct{ taken []area }

func (p *placer) place(candidates []area) int {
	best, bestOver := 0, math.Inf(1)
	for i, c := range candidates {
		over := 0.0
		for _, t := range p.taken {
			over += c.overlap(t)
		}
		if over == 0 {
			best = i
			break
		}
		if over < bestOver {
			best, bestOver = i, over
		}
	}
	p.taken = append(p.taken, candidates[best])
	return best
}

// cubic is the point at t of the cubic Bezier curve p0 c1 c2 p3.
func cubic(t float64, p0, c1, c2, p3 [2]float64) (float64, float64) {
	u := 1 - t
	a, b, c, d := u*u*u, 3*u*u*t, 3*u*t*t, t*t*t
	return a*p0[0] + b*c1[0] + c*c2[0] + d*p3[0], a*p0[1] + b*c1[1] + c*c2[1] + d*p3[1]
}

// stackDiagram draws the client and the nodes in columns by their distance
// from the client along the links, and one arrow per link. Every link passes
// through Toxiproxy, shown as a small marker on each arrow rather than as a
// node: to the reader it is part of the wire, where link faults happen.
func stackDiagram(t Topology, events []Event) svg {
	nodeFaults, linkFaults := faultTargets(t, events)

	// Columns: breadth-first from the client; nodes no link reaches go last.
	kinds := map[string]string{"client": "your machine"}
	order := []string{"client"}
	for _, n := range t.Nodes {
		kinds[n.Name] = n.Kind
	}
	col := map[string]int{"client": 0}
	for frontier := []string{"client"}; len(frontier) > 0; {
		var next []string
		for _, from := range frontier {
			for _, l := range t.Links {
				f, to, _ := strings.Cut(l, "->")
				if _, seen := col[to]; f == from && !seen {
					col[to] = col[from] + 1
					order = append(order, to)
					next = append(next, to)
				}
			}
		}
		frontier = next
	}
	last := 0
	for _, c := range col {
		last = max(last, c)
	}
	for _, n := range t.Nodes {
		if _, ok := col[n.Name]; !ok {
			col[n.Name] = last + 1
			order = append(order, n.Name)
		}
	}
	ncols := 0
	perCol := map[int][]string{}
	for _, name := range order {
		perCol[col[name]] = append(perCol[col[name]], name)
		ncols = max(ncols, col[name]+1)
	}
	// Nodes on named networks (data centers) are drawn in one horizontal
	// band per network, framed and named; the others in a band above them.
	netOf := map[string]string{}
	var bands []string
	for _, n := range t.Nodes {
		netOf[n.Name] = n.Network
		if n.Network != "" && !slices.Contains(bands, n.Network) {
			bands = append(bands, n.Network)
		}
	}
	slices.Sort(bands)
	bands = append([]string{""}, bands...)
	bandOf := func(name string) int { return slices.Index(bands, netOf[name]) }
	for c := range perCol {
		slices.SortStableFunc(perCol[c], func(a, b string) int { return bandOf(a) - bandOf(b) })
	}

	// Widths from the longest text, so names never overflow their boxes and
	// link labels fit between the columns.
	bw := 120.0
	for _, name := range order {
		bw = math.Max(bw, math.Max(textWidth(name, 14), textWidth(kinds[name], 12))+28)
	}
	// Each gap between two columns is as wide as the labels drawn in it:
	// those of the links from one column to the next, and those of the
	// same-column links that curve out of the left one.
	gaps := make([]float64, ncols)
	for c := range gaps {
		gaps[c] = 80
	}
	crossing := make([]int, ncols) // links from one column to the next, per gap
	fwd, same := make([]float64, ncols), make([]float64, ncols)
	for _, l := range t.Links {
		f, to, _ := strings.Cut(l, "->")
		c, ok := col[f]
		if !ok || c >= ncols {
			continue
		}
		label := math.Max(textWidth(l, 12), textWidth(faultTag(linkFaults[l]), 12))
		switch col[to] - c {
		case 1:
			fwd[c] = math.Max(fwd[c], label+56)
			crossing[c]++
		case 0:
			same[c] = math.Max(same[c], 64+9+textWidth(l+"  "+faultTag(linkFaults[l]), 12)+16)
		}
	}
	for c := range gaps {
		gaps[c] = math.Max(gaps[c], math.Max(fwd[c], same[c]))
		if fwd[c] > 0 && same[c] > 0 {
			// The same-column links' labels stand in a column at the
			// gap's left; the forward links' labels need room right of it.
			gaps[c] = same[c] + fwd[c]*0.6
		}
	}
	// A gap many links cross (web servers to two databases) is wider, so
	// that the placer finds room for every label along its link.
	for c, n := range crossing {
		if n > 4 {
			gaps[c] += 24 * float64(n-4)
		}
	}
	top := diagPad
	if len(nodeFaults) > 0 {
		top += 24 // room for the fault tag above a box
	}
	// Each band is as tall as its tallest column; a column's nodes are
	// centred in their band. Bands of networks are apart by bandGap, which
	// holds their frames and names.
	const bandGap = 64.0
	span := func(n int) float64 { return float64(n)*boxH + float64(max(n-1, 0))*boxGapY }
	bandTop := make([]float64, len(bands))
	bandH := make([]float64, len(bands))
	height := 0.0
	for b := range bands {
		rows := 0
		for _, names := range perCol {
			n := 0
			for _, name := range names {
				if bandOf(name) == b {
					n++
				}
			}
			rows = max(rows, n)
		}
		if rows == 0 {
			continue
		}
		if height > 0 {
			height += bandGap
		}
		bandTop[b], bandH[b] = height, span(rows)
		height += bandH[b]
	}
	boxes := map[string]box{}
	x := diagPad
	for c := 0; c < ncols; c++ {
		names := perCol[c]
		for b := range bands {
			var in []string
			for _, name := range names {
				if bandOf(name) == b {
					in = append(in, name)
				}
			}
			for i, name := range in {
				boxes[name] = box{name: name, kind: kinds[name], w: bw, faulted: nodeFaults[name],
					x: x, y: top + bandTop[b] + (bandH[b]-span(len(in)))/2 + float64(i)*(boxH+boxGapY)}
			}
		}
		x += bw
		if c < ncols-1 || sameColumnLinks(t, col, c) {
			x += gaps[c]
		}
	}
	s := svg{W: x + diagPad, H: top + height + diagPad + 4}
	labels := &placer{}
	for _, b := range boxes {
		labels.taken = append(labels.taken, area{b.x, b.y - 4, b.x + b.w, b.y + boxH + 4})
	}
	// The networks' frames, under everything else.
	for _, net := range bands {
		if net == "" {
			continue
		}
		x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for name, bx := range boxes {
			if netOf[name] == net {
				x0, x1 = math.Min(x0, bx.x), math.Max(x1, bx.x+bx.w)
				y0, y1 = math.Min(y0, bx.y), math.Max(y1, bx.y+boxH)
			}
		}
		if math.IsInf(x0, 0) {
			continue
		}
		s.add(el{Kind: "rect", X: x0 - 14, Y: y0 - 30, W: x1 - x0 + 28, H: y1 - y0 + 44, Rx: 12, Class: "network", Title: "network " + net})
		s.text(x0-4, y0-12, "start", "network-name", net)
	}

	// Arrows under the boxes.
	below := top + height + 16 // where backward links loop under the boxes
	backward := 0
	pairs := map[string]int{} // same-column links seen per pair of nodes
	// Forward links leave and enter a box at spread-out points of its edge,
	// so that a fan-out (lb -> web-1..4) or a fan-in (web-1..4 -> db) reads
	// as separate arrows rather than one blot of arrowheads.
	outs, ins := map[string][]string{}, map[string][]string{}
	for _, l := range t.Links {
		f, to, _ := strings.Cut(l, "->")
		if a, okA := boxes[f]; okA {
			if b, okB := boxes[to]; okB && b.x > a.x {
				outs[f] = append(outs[f], l)
				ins[to] = append(ins[to], l)
			}
		}
	}
	spread := func(list []string, l string) float64 {
		n := len(list)
		if n < 2 {
			return 0
		}
		step := math.Min(10, (boxH-16)/float64(n-1))
		return (float64(slices.Index(list, l)) - float64(n-1)/2) * step
	}
	for _, l := range t.Links {
		f, to, _ := strings.Cut(l, "->")
		a, okA := boxes[f]
		b, okB := boxes[to]
		if !okA || !okB {
			continue
		}
		class := "link" + faultClass(linkFaults[l])
		var d string
		var mx, my float64
		switch {
		case b.x > a.x:
			x1, y1, x2, y2 := a.x+a.w, a.cy()+spread(outs[f], l), b.x-2, b.cy()+spread(ins[to], l)
			d = fmt.Sprintf("M%.1f %.1fL%.1f %.1f", x1, y1, x2, y2)
			// Diagonal links that cross (a->d and b->c) share their
			// midpoint: their markers and labels go where the placer
			// finds room along each, nearer the target first.
			ats := []float64{0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.2, 0.88}
			if math.Abs(y2-y1) > 1 {
				ats = []float64{0.62, 0.5, 0.72, 0.4, 0.8, 0.3, 0.2, 0.88}
			}
			var cands []area
			for _, at := range ats {
				cands = append(cands, labelArea(x1+(x2-x1)*at, y1+(y2-y1)*at, l, faultTag(linkFaults[l])))
			}
			at := ats[labels.place(cands)]
			mx, my = x1+(x2-x1)*at, y1+(y2-y1)*at
		case b.x == a.x:
			// Same column: a curve out to the right. A pair of opposite
			// links bulges by different amounts and leaves and enters at
			// different heights, so the two never overlap.
			key := min(f, to) + "\x00" + max(f, to)
			n := pairs[key]
			pairs[key]++
			bulge, dy := 34.0+30*float64(n), -7.0+14*float64(n%2)
			x0, y1, y2 := a.x+a.w, a.cy()+dy, b.cy()+dy
			k := bulge / 0.75 // a cubic's midpoint reaches 3/4 of its control points' offset
			d = fmt.Sprintf("M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f", x0, y1, x0+k, y1, x0+k, y2, x0+2, y2)
			mx, my = x0+bulge, (y1+y2)/2
			// Labels in a column right of the widest curve, one line per
			// link of the pair, the fault (if any) on the same line.
			s.add(el{Kind: "path", D: d, Class: class, Title: l + " (through " + t.Proxy + ")", ID: "link-" + l})
			s.add(el{Kind: "circle", X: mx, Y: my, W: 5, Class: "proxy-dot", Title: l + " passes through " + t.Proxy})
			text, tclass := l, "link-label"
			if fl := linkFaults[l]; fl != "" {
				text, tclass = l+"  "+faultTag(fl), "fault-tag"+faultClass(fl)
			}
			ly := (a.cy()+b.cy())/2 - 4 + 16*float64(n%2)
			var cands []area
			offsets := []float64{0, 16, -16, 32, -32, 48, -48, 64, -64}
			for _, dy := range offsets {
				cands = append(cands, area{x0 + 73, ly + dy - 12, x0 + 73 + textWidth(text, 12), ly + dy + 3})
			}
			s.text(x0+64+9, ly+offsets[labels.place(cands)], "start", tclass, text)
			continue
		default:
			// Backwards: loop under the boxes, each one a little lower.
			x1, x2 := a.cx()+8, b.cx()-8
			depth := below + 20 + 18*float64(backward)
			backward++
			d = fmt.Sprintf("M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f", x1, a.y+boxH, x1, depth, x2, depth, x2, b.y+boxH+2)
			p0, c1, c2, p3 := [2]float64{x1, a.y + boxH}, [2]float64{x1, depth}, [2]float64{x2, depth}, [2]float64{x2, b.y + boxH + 2}
			ts := []float64{0.5, 0.38, 0.62, 0.28, 0.72}
			var cands []area
			for _, t := range ts {
				px, py := cubic(t, p0, c1, c2, p3)
				cands = append(cands, labelArea(px, py, l, faultTag(linkFaults[l])))
			}
			mx, my = cubic(ts[labels.place(cands)], p0, c1, c2, p3)
			s.H = math.Max(s.H, depth+30)
		}
		s.add(el{Kind: "path", D: d, Class: class, Title: l + " (through " + t.Proxy + ")", ID: "link-" + l})
		s.add(el{Kind: "circle", X: mx, Y: my, W: 5, Class: "proxy-dot", Title: l + " passes through " + t.Proxy})
		s.text(mx, my-10, "middle", "link-label", l)
		if fl := linkFaults[l]; fl != "" {
			s.text(mx, my+20, "middle", "fault-tag"+faultClass(fl), faultTag(fl))
		}
	}
	for _, name := range order {
		b := boxes[name]
		class := "node"
		if name == "client" {
			class = "node client"
		}
		if b.faulted != "" {
			class += faultClass(b.faulted)
			s.text(b.cx(), b.y-8, "middle", "fault-tag"+faultClass(b.faulted), faultTag(b.faulted))
		}
		s.add(el{Kind: "rect", X: b.x, Y: b.y, W: b.w, H: boxH, Rx: 8, Class: class, ID: "node-" + name})
		s.text(b.cx(), b.y+22, "middle", "node-name", name)
		s.text(b.cx(), b.y+40, "middle", "node-kind", b.kind)
	}
	return s
}

// A control's no-op is drawn apart from a real fault: the target is marked,
// but nothing happened to it.
func isNoOp(fault string) bool { return strings.HasPrefix(fault, "no-op") }

func faultClass(fault string) string {
	switch {
	case fault == "":
		return ""
	case isNoOp(fault):
		return " noop"
	}
	return " faulted"
}

func faultTag(fault string) string {
	switch {
	case fault == "":
		return ""
	case isNoOp(fault):
		return "no-op (nothing injected)"
	}
	return "⚡ " + fault
}

// sameColumnLinks tells whether a link joins two nodes of column c: their
// curves need the gap right of c even when c is the last column.
func sameColumnLinks(t Topology, col map[string]int, c int) bool {
	for _, l := range t.Links {
		f, to, _ := strings.Cut(l, "->")
		if cf, ok := col[f]; ok && cf == c && col[to] == c {
			return true
		}
	}
	return false
}

// faultTargets matches the history's fault names ("kill db", "latency
// 3s±0s on web->db", "no-op on web->db") to the nodes and links they hit.
// Fault names end with their target: that is how package faults names them.
func faultTargets(t Topology, events []Event) (nodes, links map[string]string) {
	nodes, links = map[string]string{}, map[string]string{}
	for _, e := range events {
		if e.Kind != "fault-injected" {
			continue
		}
		for _, l := range t.Links {
			if strings.HasSuffix(e.Fault, " "+l) {
				links[l] = strings.TrimSuffix(strings.TrimSuffix(e.Fault, " "+l), " on")
			}
		}
		for _, n := range t.Nodes {
			if strings.HasSuffix(e.Fault, " "+n.Name) {
				nodes[n.Name] = strings.TrimSuffix(strings.TrimSuffix(e.Fault, " "+n.Name), " on")
			}
		}
	}
	return nodes, links
}
