package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestFloodSendsAtItsRateUntilRecovered(t *testing.T) {
	var got atomic.Int64
	var lastPath atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		lastPath.Store(r.Method + " " + r.URL.Path)
	}))
	defer srv.Close()
	f := &Flood{Link: "client->web", Rate: 200, Request: func(n int) (string, string, string) {
		return "POST", fmt.Sprintf("/photos/p%d/jobs", n%3), "{}"
	}}
	if err := f.Landed(context.Background(), nil); err == nil {
		t.Error("landed before it started")
	}
	if err := f.start(srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := f.start(srv.URL); err != ErrActive {
		t.Errorf("a second start: %v, want ErrActive", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Landed(context.Background(), nil) != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := f.Healed(context.Background(), nil); err == nil {
		t.Error("healed while flooding")
	}
	time.Sleep(500 * time.Millisecond)
	if err := f.Recover(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Healed(context.Background(), nil); err != nil {
		t.Error(err)
	}
	n := got.Load()
	// 200 a second for about half a second: about 100 (a loaded machine
	// may fall behind; the schedule is fixed, so it catches up).
	if n < 50 || n > 150 || f.Sent() != n || f.Skipped() != 0 {
		t.Errorf("%d requests arrived, %d sent, want about 100", n, f.Sent())
	}
	if p, _ := lastPath.Load().(string); p == "" || p[:len("POST /photos/p")] != "POST /photos/p" {
		t.Errorf("request %q", p)
	}
	time.Sleep(50 * time.Millisecond)
	if after := got.Load(); after != n {
		t.Errorf("%d more requests after the recovery", after-n)
	}
}

// An abusive client's flood carries its key and counts its answers by
// status: the server limits it, the tally says how often.
func TestFloodCarriesItsHeaderAndTalliesAnswers(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "abuser" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	f := &Flood{Link: "client->gateway", Rate: 200, Client: "abuser", Header: map[string]string{"X-Api-Key": "abuser"},
		Request: func(int) (string, string, string) { return "GET", "/", "" }}
	if err := f.start(srv.URL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Sent() < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := f.Recover(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	tl := f.Tally()
	ok, limited := tl.ByStatus[http.StatusOK], tl.ByStatus[http.StatusTooManyRequests]
	if tl.Client != "abuser" || tl.Sent < 20 || ok+limited != tl.Sent || ok-limited > 1 || limited-ok > 1 {
		t.Errorf("tally %+v: want every request counted, half 429 (none 401: the key was sent)", tl)
	}
}

// Tallies keeps the tallies of the faults that count their own requests.
func TestTalliesOfInjections(t *testing.T) {
	ins := []*Injection{{Fault: Kill{Node: "web-1"}}, {Fault: &Flood{Link: "client->gateway", Rate: 10, Client: "abuser"}}}
	if got := Tallies(ins); len(got) != 1 || got[0].Client != "abuser" {
		t.Errorf("tallies %+v: want the flood's alone", got)
	}
}
