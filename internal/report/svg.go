package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The charts are plain SVG elements computed here and written out by the
// HTML template, so the page needs no script and no network: it opens the
// same from a laptop in a workshop as from a CI artifact. Geometry lives in
// Go, where it can be tested; styling lives in the page's CSS classes.

// el is one SVG element. Which fields matter depends on Kind.
type el struct {
	Kind       string  // rect, line, text, path, circle
	X, Y, W, H float64 // rect; text anchor point; circle centre (radius in W)
	X2, Y2     float64 // line end
	D          string  // path data
	Text       string  // text content
	Class      string
	Anchor     string // text-anchor: start, middle, end
	Rotate     float64
	Rx         float64 // rect corner radius
	Title      string  // tooltip
	ID         string  // the element's id, for a page that updates it (scalelab up's live page)
}

// svg is one drawing: its size and its elements, painted in order.
type svg struct {
	W, H float64
	Els  []el
}

func (s *svg) add(e ...el) { s.Els = append(s.Els, e...) }

func (s *svg) text(x, y float64, anchor, class, text string) {
	s.add(el{Kind: "text", X: x, Y: y, Anchor: anchor, Class: class, Text: text})
}

func (s *svg) line(x1, y1, x2, y2 float64, class string) {
	s.add(el{Kind: "line", X: x1, Y: y1, X2: x2, Y2: y2, Class: class})
}

func (s *svg) rect(x, y, w, h float64, class, title string) {
	s.add(el{Kind: "rect", X: x, Y: y, W: w, H: h, Class: class, Title: title})
}

// textWidth estimates the width of text at the page's 12px sans-serif: no
// font metrics without a browser, and 7px a character errs on the wide side.
func textWidth(s string, px float64) float64 { return float64(len([]rune(s))) * px * 0.58 }

// ---- timeline chart ----

const (
	chartW, chartH                          = 1040.0, 400.0
	chartLeft, chartRight, chartTop, chartB = 64.0, 78.0, 58.0, 52.0
)

// timelineChart draws the run: stacked bars of ok/failed/unknown ops per
// bucket on the left axis, p50 and p99 latency per bucket on a log right
// axis, and the fault window shaded between fault and heal.
func timelineChart(r Report) svg {
	s := svg{W: chartW, H: chartH}
	px, py := chartLeft, chartTop
	pw, ph := chartW-chartLeft-chartRight, chartH-chartTop-chartB
	end := r.Timeline.EndS
	width := r.Timeline.BucketS
	if n := len(r.Buckets); n > 0 {
		end = math.Max(end, r.Buckets[n-1].TS+width)
	}
	if end <= 0 || len(r.Buckets) == 0 {
		s.rect(px, py, pw, ph, "plot", "")
		s.text(px+pw/2, py+ph/2, "middle", "empty", "no operations were recorded: nothing to chart")
		return s
	}
	x := func(t float64) float64 { return px + t/end*pw }

	// Left axis: requests per bucket.
	maxCount := 0
	for _, b := range r.Buckets {
		maxCount = max(maxCount, b.OK+b.Failed+b.Unknown)
	}
	// 15% headroom keeps the top of the bars off the fault band.
	top, step := niceCeil(float64(maxCount)*1.15, 5)
	yCount := func(n float64) float64 { return py + ph - n/top*ph }

	// Right axis: latency, log scale, whole decades.
	lo, hi := latencyRange(r.Buckets)
	yLat := func(ms float64) float64 {
		ms = math.Min(math.Max(ms, lo), hi)
		return py + ph - (math.Log10(ms)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*ph
	}

	s.rect(px, py, pw, ph, "plot", "")
	// The fault window is shaded behind the bars (visible in the headroom
	// above them) and marked by a band above the plot, with its edges drawn
	// over the bars at the end: at a steady rate the bars fill the plot.
	var edges []el
	if f, h := r.Timeline.FaultAtS, r.Timeline.HealAtS; f != nil && h != nil {
		x1, x2 := x(*f), x(*h)
		title := fmt.Sprintf("fault in place from %s to %s", secs(*f), secs(*h))
		s.rect(x1, py, math.Max(x2-x1, 1), ph, "fault-window", title)
		s.rect(x1, py-20, math.Max(x2-x1, 1), 20, "fault-band", title)
		edges = append(edges,
			el{Kind: "line", X: x1, Y: py - 20, X2: x1, Y2: py + ph, Class: "fault-edge"},
			el{Kind: "line", X: x2, Y: py - 20, X2: x2, Y2: py + ph, Class: "fault-edge"})
		// Inside the band when both labels fit, else outside its edges.
		fl, hl := "fault "+secs(*f), "heal "+secs(*h)
		if x2-x1 > textWidth(fl, 12)+textWidth(hl, 12)+16 {
			s.text(x1+5, py-6, "start", "fault-label", fl)
			s.text(x2-5, py-6, "end", "fault-label", hl)
		} else {
			s.text(x1-5, py-6, "end", "fault-label", fl)
			s.text(x2+5, py-6, "start", "fault-label", hl)
		}
	}

	// Gridlines and left ticks.
	for v := 0.0; v <= top+step/2; v += step {
		y := yCount(v)
		if v > 0 {
			s.line(px, y, px+pw, y, "grid")
		}
		s.line(px-5, y, px, y, "tick")
		s.text(px-8, y+4, "end", "tick-label", strconv.FormatFloat(v, 'f', -1, 64))
	}
	// Right ticks: one per decade, and at 2x and 5x when the axis spans
	// only a decade or two (else a reader gets two numbers for the axis).
	mults := []float64{1}
	if hi/lo <= 100 {
		mults = []float64{1, 2, 5}
	}
	for d := lo; d <= hi*1.0001; d *= 10 {
		for _, m := range mults {
			if v := d * m; v <= hi*1.0001 {
				y := yLat(v)
				s.line(px+pw, y, px+pw+5, y, "tick")
				s.text(px+pw+8, y+4, "start", "tick-label", msLabel(v))
			}
		}
	}
	// Bottom ticks.
	tstep := timeStep(end)
	for t := 0.0; t <= end+1e-9; t += tstep {
		s.line(x(t), py+ph, x(t), py+ph+5, "tick")
		s.text(x(t), py+ph+19, "middle", "tick-label", strconv.FormatFloat(t, 'f', -1, 64))
	}

	// Bars: ok at the bottom, then failed, then unknown.
	bw := math.Max(width/end*pw-1, 1)
	for _, b := range r.Buckets {
		bx := x(b.TS) + 0.5
		title := bucketTitle(b, width)
		base := 0.0
		for _, part := range []struct {
			n     int
			class string
		}{{b.OK, "bar-ok"}, {b.Failed, "bar-failed"}, {b.Unknown, "bar-unknown"}} {
			if part.n == 0 {
				continue
			}
			y0, y1 := yCount(base), yCount(base+float64(part.n))
			s.rect(bx, y1, bw, y0-y1, part.class, title)
			base += float64(part.n)
		}
	}

	// Latency lines, each drawn twice: a white halo under the coloured line
	// keeps it readable where it crosses bars of the same hue.
	for _, q := range []struct {
		class string
		get   func(Bucket) *float64
	}{{"lat-p50", func(b Bucket) *float64 { return b.P50MS }}, {"lat-p99", func(b Bucket) *float64 { return b.P99MS }}} {
		d, dots := latencyPath(r.Buckets, width, x, yLat, q.get)
		if d == "" {
			continue
		}
		s.add(el{Kind: "path", D: d, Class: "halo"}, el{Kind: "path", D: d, Class: q.class})
		for _, p := range dots { // isolated points would not show as a line
			s.add(el{Kind: "circle", X: p[0], Y: p[1], W: 2.5, Class: q.class + "-dot"})
		}
	}

	s.add(edges...)
	alertSpans(&s, r, x, py, px+pw)

	// Axis titles.
	s.text(px+pw/2, chartH-10, "middle", "axis-title", "seconds since the run started")
	s.add(el{Kind: "text", X: 16, Y: py + ph/2, Anchor: "middle", Class: "axis-title", Rotate: -90,
		Text: fmt.Sprintf("requests per %s bucket", secs(width))})
	s.add(el{Kind: "text", X: chartW - 14, Y: py + ph/2, Anchor: "middle", Class: "axis-title", Rotate: 90,
		Text: "latency per bucket (log scale)"})

	// Legend, above the plot on the left; the fault labels use the line just
	// under it.
	lx := px
	for _, it := range []struct{ class, label string }{
		{"bar-ok", "ok"}, {"bar-failed", "failed"}, {"bar-unknown", "unknown (timeout)"},
		{"lat-p50", "p50 latency"}, {"lat-p99", "p99 latency"}, {"fault-window", "fault in place"}, {"alert-span", "alert firing"},
	} {
		if it.class == "alert-span" && len(r.Alerts) == 0 {
			continue
		}
		if strings.HasPrefix(it.class, "lat-") {
			s.line(lx, 18, lx+18, 18, it.class)
		} else {
			s.rect(lx, 12, 14, 12, it.class+" legend-swatch", "")
		}
		s.text(lx+22, 22, "start", "legend", it.label)
		lx += 22 + textWidth(it.label, 12) + 22
	}
	return s
}

// alertSpans draws each alert the pager heard (stage 10) as a bar along
// the top of the plot, from when it was heard firing to when it was heard
// resolved (or the plot's end), one row each, its name in its title.
func alertSpans(s *svg, r Report, x func(float64) float64, top, right float64) {
	f, h := r.Timeline.FaultAtS, r.Timeline.HealAtS
	if f == nil || h == nil {
		return
	}
	for i, a := range r.Alerts {
		from, to, until := *f+a.FiredAtS, right, "still firing at the end"
		if a.ResolvedAtS != nil {
			to, until = x(*h+*a.ResolvedAtS), "resolved at "+secs(*h+*a.ResolvedAtS)
		}
		name := a.AlertName
		if a.Instance != "" {
			name += " on " + a.Instance
		}
		x1 := x(from)
		s.rect(x1, top+4+float64(i)*9, math.Max(to-x1, 2), 6, "alert-span",
			fmt.Sprintf("%s: heard firing at %s, %s", name, secs(from), until))
	}
}

// latencyPath makes one path of the points of consecutive non-empty buckets
// (a gap where a bucket is empty, rather than a line through no data), and
// returns the points that have no neighbour.
func latencyPath(bs []Bucket, width float64, x, y func(float64) float64, get func(Bucket) *float64) (string, [][2]float64) {
	var d strings.Builder
	var dots [][2]float64
	run := 0 // points in the current segment
	var last [2]float64
	for _, b := range bs {
		v := get(b)
		if v == nil {
			if run == 1 {
				dots = append(dots, last)
			}
			run = 0
			continue
		}
		p := [2]float64{x(b.TS + width/2), y(*v)}
		if run == 0 {
			fmt.Fprintf(&d, "M%.1f %.1f", p[0], p[1])
		} else {
			fmt.Fprintf(&d, "L%.1f %.1f", p[0], p[1])
		}
		run++
		last = p
	}
	if run == 1 {
		dots = append(dots, last)
	}
	return d.String(), dots
}

// latencyRange is the decades [lo, hi] (ms) that hold every bucket's p50
// and p99, at least one decade apart.
func latencyRange(bs []Bucket) (lo, hi float64) {
	minV, maxV := math.Inf(1), math.Inf(-1)
	for _, b := range bs {
		for _, v := range []*float64{b.P50MS, b.P99MS} {
			if v != nil && *v > 0 {
				minV, maxV = math.Min(minV, *v), math.Max(maxV, *v)
			}
		}
	}
	if math.IsInf(minV, 1) {
		return 1, 1000
	}
	lo = math.Pow(10, math.Floor(math.Log10(minV)))
	hi = math.Pow(10, math.Ceil(math.Log10(maxV)))
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// niceCeil rounds v up to a multiple of a 1/2/5 step that gives at most
// about n intervals.
func niceCeil(v float64, n int) (top, step float64) {
	if v <= 0 {
		return 1, 1
	}
	raw := v / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if step >= raw {
			break
		}
	}
	step = math.Max(step, 1) // counts are integers
	return math.Ceil(v/step) * step, step
}

// timeStep picks a tick interval in seconds for about 10 ticks.
func timeStep(end float64) float64 {
	for _, s := range []float64{0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600} {
		if end/s <= 12 {
			return s
		}
	}
	return 1200
}

func msLabel(ms float64) string {
	switch {
	case ms >= 1000:
		return short(ms/1000) + " s"
	case ms >= 1:
		return short(ms) + " ms"
	default:
		return short(ms*1000) + " µs"
	}
}

// short keeps about three significant digits without ever switching to
// exponent notation (strconv's 'g' prints 999.7 as "1e+03").
func short(v float64) string {
	digits := 2
	switch {
	case v >= 100:
		digits = 0
	case v >= 10:
		digits = 1
	}
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func secs(s float64) string { return strconv.FormatFloat(round(s, 2), 'f', -1, 64) + " s" }

func bucketTitle(b Bucket, width float64) string {
	t := fmt.Sprintf("%s to %s: %d ok, %d failed, %d unknown", secs(b.TS), secs(b.TS+width), b.OK, b.Failed, b.Unknown)
	if b.P50MS != nil && b.P99MS != nil {
		t += fmt.Sprintf("; p50 %s, p99 %s", msLabel(*b.P50MS), msLabel(*b.P99MS))
	}
	return t
}

// Size of the backlog chart: as wide as the timeline, a third as tall.
const backlogH = 190.0

// backlogChart draws a queue's depth over the run (Jobs.Backlog) on the
// timeline's time axis, the fault window shaded: how the backlog grew
// while the workers were gone and how fast it drained after the heal.
// Empty (zero size) when the run sampled no queue.
func backlogChart(r Report) svg {
	if r.Jobs == nil || len(r.Jobs.Backlog) == 0 {
		return svg{}
	}
	pts := r.Jobs.Backlog
	s := svg{W: chartW, H: backlogH}
	px, py := chartLeft, 20.0
	pw, ph := chartW-chartLeft-chartRight, backlogH-py-44
	end := math.Max(r.Timeline.EndS, pts[len(pts)-1][0])
	if end <= 0 {
		end = 1
	}
	peak := 0.0
	for _, p := range pts {
		peak = math.Max(peak, p[1])
	}
	top, step := niceCeil(math.Max(peak*1.1, 10), 4)
	x := func(t float64) float64 { return px + t/end*pw }
	y := func(v float64) float64 { return py + ph - v/top*ph }

	s.rect(px, py, pw, ph, "plot", "")
	if f, h := r.Timeline.FaultAtS, r.Timeline.HealAtS; f != nil && h != nil {
		s.rect(x(*f), py, math.Max(x(*h)-x(*f), 1), ph, "fault-window",
			fmt.Sprintf("fault in place from %s to %s", secs(*f), secs(*h)))
	}
	for v := 0.0; v <= top+step/2; v += step {
		if v > 0 {
			s.line(px, y(v), px+pw, y(v), "grid")
		}
		s.line(px-5, y(v), px, y(v), "tick")
		s.text(px-8, y(v)+4, "end", "tick-label", strconv.FormatFloat(v, 'f', -1, 64))
	}
	tstep := timeStep(end)
	for t := 0.0; t <= end+1e-9; t += tstep {
		s.line(x(t), py+ph, x(t), py+ph+5, "tick")
		s.text(x(t), py+ph+19, "middle", "tick-label", strconv.FormatFloat(t, 'f', -1, 64))
	}
	// A step line: the depth holds from one sample to the next.
	var d strings.Builder
	for i, p := range pts {
		if i == 0 {
			fmt.Fprintf(&d, "M%.1f,%.1f", x(p[0]), y(p[1]))
			continue
		}
		fmt.Fprintf(&d, " H%.1f V%.1f", x(p[0]), y(p[1]))
	}
	s.add(el{Kind: "path", D: d.String(), Class: "halo"}, el{Kind: "path", D: d.String(), Class: "backlog"})
	s.text(px+pw/2, backlogH-6, "middle", "axis-title", "seconds since the run started")
	s.add(el{Kind: "text", X: 16, Y: py + ph/2, Anchor: "middle", Class: "axis-title", Rotate: -90, Text: "jobs queued"})
	return s
}
