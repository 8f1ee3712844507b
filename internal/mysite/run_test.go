package mysite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestDBMonitor(t *testing.T) {
	var logs syncBuffer
	m := NewDBMonitor(nil, slog.New(slog.NewTextHandler(&logs, nil)))
	down := Unavailable(errors.New("connection refused"), true)

	m.Observe("get", down)
	if m.Up() || metricValue(m.up) != 0 {
		t.Error("should be down")
	}
	if n := strings.Count(logs.String(), "database down"); n != 1 {
		t.Fatalf("%d down lines:\n%s", n, logs.String())
	}
	m.Observe("get", down) // same state: no new line
	if n := metricValue(m.errors.WithLabelValues("get")); n != 2 {
		t.Errorf("errors_total{get} = %v", n)
	}

	// Flapping within a second is summarized, and Flush logs the final state.
	for range 50 {
		m.Observe("put", nil)
		m.Observe("put", down)
	}
	m.Observe("put", nil)
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d lines while flapping:\n%s", n, logs.String())
	}
	m.Flush()
	out := logs.String()
	if !strings.Contains(out, "database up") || !strings.Contains(out, "changes=101") {
		t.Errorf("flush did not log the final state with the change count:\n%s", out)
	}
	if !m.Up() || metricValue(m.changes) != 102 {
		t.Errorf("up %v changes %v", m.Up(), metricValue(m.changes))
	}

	// A non-availability error (the DB answered) counts but keeps it up.
	m.Observe("get", errors.New("syntax error"))
	if !m.Up() {
		t.Error("a SQL error should not mark the database down")
	}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not JSON: %s", url, b)
	}
	return resp.StatusCode, m
}

// Run serves at once while the database is unreachable, answers 503 fast,
// and shuts down cleanly when its context ends.
func TestRunWithoutDatabase(t *testing.T) {
	// Port 1 on loopback refuses connections.
	cfg := Config{Listen: "127.0.0.1:0", DB: "postgres://u:p@127.0.0.1:1/x?sslmode=disable",
		DBTimeout: 500 * time.Millisecond, MaxConns: 2, ShutdownTimeout: time.Second}
	base, logs, stop := startRun(t, cfg)

	if code, body := getJSON(t, base+"/healthz"); code != 200 || body["status"] != "alive" {
		t.Errorf("healthz %d %v", code, body)
	}
	code, body := getJSON(t, base+"/readyz")
	if msg, _ := body["error"].(string); code != 503 || !strings.HasPrefix(msg, "database: ") {
		t.Errorf("readyz %d %v", code, body)
	}
	start := time.Now()
	code, body = getJSON(t, base+"/users/42")
	if msg, _ := body["error"].(string); code != 503 || !strings.HasPrefix(msg, "database unavailable: ") {
		t.Errorf("get %d %v", code, body)
	}
	if d := time.Since(start); d > cfg.DBTimeout+200*time.Millisecond {
		t.Errorf("503 took %v", d)
	}
	// Give the schema loop a moment to log the down state.
	time.Sleep(300 * time.Millisecond)

	stop()
	out := logs.String()
	for _, want := range []string{"mysite started", "database down", "mysite stopping", "mysite stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "u:p@") || strings.Contains(out, "password") {
		t.Errorf("log shows credentials:\n%s", out)
	}
}

// startRun runs mysite's run with cfg until stop is called, logging into
// logs; base is the URL it serves. stop cancels the run and fails the test
// if it returns an error or does not stop within 5 s.
func startRun(t *testing.T, cfg Config) (base string, logs *syncBuffer, stop func()) {
	t.Helper()
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), func(a net.Addr) { addrc <- a })
	}()
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	return base, logs, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("run did not stop")
		}
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := Config{Listen: ln.Addr().String(), DB: "postgres://u:p@127.0.0.1:1/x", DBTimeout: time.Second, MaxConns: 1, ShutdownTimeout: time.Second}
	err = Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("err %v", err)
	}
}
