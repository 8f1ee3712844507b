package workload

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadBack(t *testing.T) {
	var mu sync.Mutex
	gets := make(map[string]int)
	f, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		id := strings.TrimPrefix(r.URL.Path, "/users/")
		mu.Lock()
		gets[id]++
		n := gets[id]
		mu.Unlock()
		switch {
		case id == "u1" && n <= 2: // transient: recovers on the third try
			w.Header().Set(WriteOutcomeHeader, "not-applied")
			writeFakeJSON(w, 503, map[string]string{"error": "database unavailable: starting"})
			return true
		case id == "u4" && n == 1:
			hangUp(w, true)
			return true
		}
		return false
	})
	f.set("u1", "c1-w1")
	f.set("u2", "c2-w9")
	f.set("u4", "c0-w3")

	final, err := ReadBack(context.Background(), srv.URL, []string{"u1", "u2", "u3", "u4", "u2"}, time.Second, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"u1": "c1-w1", "u2": "c2-w9", "u3": "", "u4": "c0-w3"}
	if len(final) != len(want) {
		t.Fatalf("final %v, want %v", final, want)
	}
	for k, v := range want {
		if got, ok := final[k]; !ok || got != v {
			t.Fatalf("final %v, want %v", final, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if gets["u2"] != 1 || gets["u1"] != 3 {
		t.Fatalf("GETs per key %v: duplicates read twice or retries wrong", gets)
	}
}

func TestReadBackNamesFailedKeys(t *testing.T) {
	var mu sync.Mutex
	gets := make(map[string]int)
	f, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		id := strings.TrimPrefix(r.URL.Path, "/users/")
		mu.Lock()
		gets[id]++
		mu.Unlock()
		switch id {
		case "u2": // never recovers
			writeFakeJSON(w, 503, map[string]string{"error": "database unavailable: down"})
			return true
		case "u3": // refused outright: not worth retrying
			writeFakeJSON(w, 400, map[string]string{"error": "bad id"})
			return true
		}
		return false
	})
	f.set("u1", "c1-w1")
	final, err := ReadBack(context.Background(), srv.URL, []string{"u1", "u2", "u3"}, time.Second, 2)
	var rbe *ReadBackError
	if !errors.As(err, &rbe) {
		t.Fatalf("error %v, want a *ReadBackError", err)
	}
	if keys := rbe.Keys(); len(keys) != 2 || keys[0] != "u2" || keys[1] != "u3" {
		t.Fatalf("failed keys %v, want [u2 u3]", keys)
	}
	msg := err.Error()
	for _, want := range []string{"2 of 3 keys", "u2", "u3", "503", "400"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if final["u1"] != "c1-w1" || len(final) != 1 {
		t.Fatalf("final %v: want just the key that was read", final)
	}
	mu.Lock()
	defer mu.Unlock()
	if gets["u2"] != 3 || gets["u3"] != 1 {
		t.Fatalf("GETs %v: want 3 tries of u2 (1+2 retries), 1 of u3", gets)
	}
}

func TestReadBackDeadline(t *testing.T) {
	_, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		writeFakeJSON(w, 503, map[string]string{"error": "down"})
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := ReadBack(ctx, srv.URL, []string{"u1", "u2"}, time.Second, 1000)
	if err == nil || !strings.Contains(err.Error(), "u1") || !strings.Contains(err.Error(), "u2") {
		t.Fatalf("error %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("read-back ignored its deadline: took %v", took)
	}
	if _, err := ReadBack(context.Background(), srv.URL, nil, 0, 0); err == nil {
		t.Error("timeout 0 accepted")
	}
}
