package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// testLivePage is a live page over a recorder the test fills, with no stack.
func testLivePage(t *testing.T) (*livePage, *workload.Recorder, *httptest.Server) {
	t.Helper()
	topo := stacks.Topology{Name: "t", Nodes: []stacks.Node{{Name: "web", Role: stacks.Role{Kind: "mysite"}}, {Name: "db", Role: stacks.Role{Kind: "postgres"}}},
		Links: []stacks.Link{{From: stacks.Client, To: "web"}, {From: "web", To: "db"}}}
	ctl := &controller{token: "s3cret", say: func(string) {}}
	ctl.show()
	rec := workload.NewRecorder(nil)
	p := &livePage{
		page: report.NewLive(topo, "separate-db", 2, "A separate database", "timeout=2s", ctl.token,
			[]report.LiveFault{{ID: "db-latency", Help: "slow", Settings: []report.LiveSetting{{Name: "latency", Default: "3s"}}}}),
		live: &engine.Live{Rec: rec, Timeout: 100 * time.Millisecond}, ctl: ctl,
	}
	p.nodes.Store(&map[string]string{"db": "down"})
	mux := http.NewServeMux()
	mux.Handle("/fault", ctl)
	p.routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return p, rec, srv
}

func TestTheLivePageNeedsItsToken(t *testing.T) {
	_, _, srv := testLivePage(t)
	for _, path := range []string{"/", "/?token=guess", "/events", "/events?token=guess"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s: status %d, want 401", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + "/?token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	page := b.String()
	for _, want := range []string{`data-fault="db-latency"`, `data-setting="latency" value="3s"`, `id="node-db"`, `id="link-web-&gt;db"`, `const token = "s3cret"`, `id="heal"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("status %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	// A fault request without the token, as a page elsewhere could send.
	post, err := http.Post(srv.URL+"/fault", "application/json", strings.NewReader(`{"fault":"db-latency"}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /fault without the token: status %d, want 401", post.StatusCode)
	}
}

func TestTheLiveStreamSaysWhatTheWorkloadSaw(t *testing.T) {
	_, rec, srv := testLivePage(t)
	// A second of requests, a fifth of them failed, and a fault injected,
	// then the clock past them.
	for i := range 100 {
		at := time.Duration(i) * 10 * time.Millisecond
		out := history.OK
		if i%5 == 0 {
			out = history.Failed
		}
		rec.Op(history.Op{Kind: history.Write, Key: "k", Invoke: at, Complete: at + 5*time.Millisecond, Outcome: out})
	}
	rec.Event(history.FaultInjected, "latency 3s±0s on web->db", "")
	for rec.Clock().Now() < 1200*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events?token=s3cret", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var u report.LiveUpdate
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &u); err != nil {
		t.Fatalf("%v: %q", err, line)
	}
	ok, failed := 0, 0
	for _, b := range u.Buckets {
		ok, failed = ok+b.OK, failed+b.Failed
	}
	if ok != 80 || failed != 20 {
		t.Errorf("buckets hold %d ok and %d failed, want 80 and 20", ok, failed)
	}
	if len(u.Events) != 1 || u.Events[0].Kind != string(history.FaultInjected) {
		t.Errorf("events %+v, want the injection", u.Events)
	}
	if u.Nodes["db"] != "down" {
		t.Errorf("nodes %v, want db down", u.Nodes)
	}
	if u.Recent.Availability == nil || *u.Recent.Availability != 0.8 {
		t.Errorf("recent %+v, want availability 0.8", u.Recent)
	}
}
