package report

import (
	"html"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/stacks"
)

// assetsResult is the synthetic run with page loads added: before the fault
// 4 assets (3 from the edge, 1 from the origin), during it 2 (1 failed, 1
// from the origin), none after; the origin's served counter grows by 1
// before and by 1 during.
func assetsResult() (history.History, []check.CounterSample) {
	h := syntheticHistory()
	a := func(client int, inv int, source string, out history.Outcome) history.Op {
		o := op(client, history.Asset, "/static/app.js", "2", inv, inv+5, out)
		o.Expect, o.Source = "2", source
		return o
	}
	h.Ops = append(h.Ops,
		op(6, history.Page, "/page", "2", 500, 505, history.OK),
		a(6, 510, history.SourceEdge, history.OK), a(6, 520, history.SourceEdge, history.OK),
		a(6, 530, history.SourceEdge, history.OK), a(6, 540, history.SourceOrigin, history.OK),
		op(6, history.Page, "/page", "", 1500, 1505, history.Failed),
		a(6, 1510, history.SourceOrigin, history.Failed), a(6, 1520, history.SourceOrigin, history.OK),
	)
	s := func(at int, served float64) check.CounterSample {
		return check.CounterSample{At: time.Duration(at) * ms, Values: map[string]float64{stacks.CounterOriginServed: served}}
	}
	return h, []check.CounterSample{s(100, 5), s(900, 6), s(1500, 7), s(1900, 8), s(2100, 8), s(2900, 8)}
}

func TestReportAssetsSection(t *testing.T) {
	h, samples := assetsResult()
	r := syntheticResult(h)
	r.Evidence.Counters = samples
	assets := obj(t, decode(t, mustJSON(t, FromResult(r))), "assets")

	for _, tt := range []struct {
		window                              string
		total, failed, fromEdge, fromOrigin float64
		offload                             float64 // -1: omitted
	}{
		{"before", 4, 0, 3, 1, 0.75}, // the origin served 1 of 4
		{"during", 2, 1, 0, 1, 0},    // served 1 for the 1 load that succeeded: the failed one does not count
		{"after", 0, 0, 0, 0, -1},    // no load: nothing to offload
	} {
		w := obj(t, assets, tt.window)
		wantNum(t, w, "total", tt.total)
		wantNum(t, w, "failed", tt.failed)
		wantNum(t, w, "from_edge", tt.fromEdge)
		wantNum(t, w, "from_origin", tt.fromOrigin)
		if tt.offload < 0 {
			if v, ok := w["offload"]; ok {
				t.Errorf("%s.offload = %v, want it omitted", tt.window, v)
			}
			continue
		}
		wantNum(t, w, "offload", tt.offload)
	}
}

// Runs that loaded no asset have no assets section, whatever was sampled.
func TestReportNoAssetsSection(t *testing.T) {
	_, samples := assetsResult()
	r := syntheticResult(syntheticHistory())
	r.Evidence.Counters = samples
	rep := FromResult(r)
	if rep.Assets != nil {
		t.Errorf("assets = %+v, want none", rep.Assets)
	}
	if _, ok := decode(t, mustJSON(t, rep))["assets"]; ok {
		t.Error("report.json has an assets section")
	}
	page, err := renderHTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "The edge cache") {
		t.Error("report.html has an assets table")
	}
}

func TestReportHTMLAssetsTable(t *testing.T) {
	h, samples := assetsResult()
	r := syntheticResult(h)
	r.Evidence.Counters = samples
	page, err := renderHTML(FromResult(r))
	if err != nil {
		t.Fatal(err)
	}
	text := html.UnescapeString(string(page))
	for _, want := range []string{
		"The edge cache",
		`<td>before</td><td class="num">4</td><td class="num">0</td><td class="num">3</td><td class="num">1</td><td class="num">75%</td>`,
		`<td>during</td><td class="num">2</td><td class="num">1</td><td class="num">0</td><td class="num">1</td><td class="num">0%</td>`,
		`<td>after</td><td class="num">0</td><td class="num">0</td><td class="num">0</td><td class="num">0</td><td class="num">no data</td>`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
}
