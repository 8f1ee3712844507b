package mysite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// In -jobs-mode sync a worker does one job at a time, as its consumer
// does: a request that comes while it is busy waits for it, and one whose
// client gives up first is answered 503, not done.
func TestWorkerProcessWaitsForTheWorkersOneJobSlot(t *testing.T) {
	w := &Worker{slot: make(chan struct{}, 1)}
	w.slot <- struct{}{} // busy with another job
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	body := `{"job":"j1","photo":"p1","op":"` + PhotoOps[0] + `"}`
	r := httptest.NewRequest(http.MethodPost, "/process", strings.NewReader(body)).WithContext(ctx)
	rw := httptest.NewRecorder()
	w.process(rw, r)
	if rw.Code != http.StatusServiceUnavailable || !strings.Contains(rw.Body.String(), "busy") {
		t.Errorf("while the worker is busy: %d %s, want 503 busy", rw.Code, rw.Body)
	}
	if w.processed.Load() != 0 {
		t.Error("the job was done though its client gave up")
	}
}
