package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestResumedAfter(t *testing.T) {
	failed := func(o history.Op) history.Op { return with(o, history.Failed) }
	tests := []struct {
		name    string
		h       history.History
		resumed bool
		at      int // ms
	}{
		{"no failure: the first success sent after the injection, by completion",
			faulted(100, 500, 1000, wr(0, "a", "1", 90, 95), wr(0, "a", "2", 110, 400), wr(0, "a", "3", 150, 300)), true, 300},
		{"waiting requests: the first success after the last failure",
			faulted(100, 500, 1000, failed(wr(0, "a", "1", 120, 320)), wr(0, "a", "2", 130, 340), failed(wr(0, "a", "3", 200, 400)), wr(0, "a", "4", 210, 450)), true, 450},
		{"a success sent before the last failure does not count",
			faulted(100, 500, 1000, wr(0, "a", "1", 150, 160), failed(wr(0, "a", "2", 300, 310)), wr(0, "a", "3", 600, 610)), true, 610},
		{"reads do not count for writes",
			faulted(100, 500, 1000, failed(wr(0, "a", "1", 150, 160)), rd(0, "a", "", 200, 210)), false, 0},
	}
	for _, tt := range tests {
		r, err := ResumedAfter(tt.h, history.Write)
		if err != nil {
			t.Fatal(err)
		}
		if r.Resumed != tt.resumed || r.Resumed && r.At != time.Duration(tt.at)*ms {
			t.Errorf("%s: got %+v", tt.name, r)
		}
		if r.Resumed && r.Outage != r.At-100*ms {
			t.Errorf("%s: outage %v", tt.name, r.Outage)
		}
	}
}
