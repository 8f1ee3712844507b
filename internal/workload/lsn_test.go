package workload

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Read-your-writes tokens: a write's answer carries Mysite-LSN; every later
// read of the same client carries the highest such token as Mysite-Min-LSN.
// The fake numbers writes 1, 2, 3, ...; a read never carries a token
// higher than the writes answered so far, and reads after writes carry one.
func TestReadsCarryTheClientsLastWriteToken(t *testing.T) {
	var seq atomic.Int64
	var mu sync.Mutex
	type seen struct {
		token, at int64
	}
	var reads []seen
	_, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch r.Method {
		case http.MethodPut:
			w.Header().Set(LSNHeader, strconv.FormatInt(seq.Add(1), 10))
		case http.MethodGet:
			tok, _ := strconv.ParseInt(r.Header.Get(MinLSNHeader), 10, 64)
			mu.Lock()
			reads = append(reads, seen{tok, seq.Load()})
			mu.Unlock()
		}
		return false
	})
	cfg := testConfig()
	rec, _, err := Run(context.Background(), cfg, srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.History().Ops) == 0 {
		t.Fatal("no ops")
	}
	var checked int
	mu.Lock()
	defer mu.Unlock()
	var withToken int
	for _, r := range reads {
		if r.token > 0 {
			withToken++
			if r.token > r.at {
				t.Fatalf("read carried token %d, but only %d writes were answered", r.token, r.at)
			}
		}
		checked++
	}
	if checked == 0 || withToken == 0 {
		t.Fatalf("%d reads, %d with a token", checked, withToken)
	}
	var tokens lsnTokens = make(lsnTokens, 2)
	tokens.observe(1, 5)
	tokens.observe(1, 3) // never goes back
	tokens.observe(7, 9) // out of range: ignored
	if tokens.get(1) != 5 || tokens.get(0) != 0 || tokens.get(7) != 0 {
		t.Errorf("tokens %d %d %d", tokens.get(1), tokens.get(0), tokens.get(7))
	}
}

// The final read-back asks for the primary: a replica may not have
// replayed the last writes yet.
func TestReadBackAsksForThePrimary(t *testing.T) {
	var asked atomic.Int64
	_, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get(ReadFromHeader) == "primary" {
			asked.Add(1)
		}
		return false
	})
	if _, err := ReadBack(context.Background(), srv.URL, []string{"a", "b"}, readBackBackoff*20, 0); err != nil {
		t.Fatal(err)
	}
	if asked.Load() != 2 {
		t.Errorf("%d of 2 reads asked for the primary", asked.Load())
	}
}
