package check

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// series builds ops from per-bucket outcomes: one op every 10ms in each
// 100ms bucket starting at from, ok of them OK then the rest Failed; a
// negative count leaves the bucket empty.
func series(from int, okPerBucket ...int) []history.Op {
	var ops []history.Op
	for b, ok := range okPerBucket {
		if ok < 0 {
			continue
		}
		for i := range 10 {
			out := history.OK
			if i >= ok {
				out = history.Failed
			}
			t := from + b*100 + i*10
			ops = append(ops, other(t, t+1, out))
		}
	}
	return ops
}

func TestRecoveryTime(t *testing.T) {
	// Fault injected at 1000ms and healed at 1300ms; the run ends at 2000ms.
	// Buckets are 100ms from the injection: 7 of them up to the end.
	tests := []struct {
		name             string
		buckets          []int // OK count per bucket (of 10), from 1000ms
		recovered        bool
		sinceInject      time.Duration
		sinceHeal        time.Duration
		reasonIfNotFound string
	}{
		{"never hurt", []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10}, true, 0, -300 * ms, ""},
		{"outage then back at 400ms", []int{0, 0, 0, 5, 10, 10, 10, 10, 10, 10}, true, 400 * ms, 100 * ms, ""},
		{"back, then a dip: recovery is after the last dip", []int{0, 10, 10, 0, 10, 10, 10, 10, 10, 10}, true, 400 * ms, 100 * ms, ""},
		{"recovered before heal (routed around the fault)", []int{0, 10, 10, 10, 10, 10, 10, 10, 10, 10}, true, 100 * ms, -200 * ms, ""},
		{"empty buckets are ignored", []int{0, -1, 10, -1, 10, 10, -1, 10, 10, -1}, true, 200 * ms, -100 * ms, ""},
		{"below threshold at the end", []int{0, 0, 10, 10, 10, 10, 10, 10, 10, 9}, false, 0, 0, "still below"},
		{"no ops after inject", []int{-1, -1, -1}, false, 0, 0, "no operations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := append(series(0, 10, 10, 10), series(1000, tt.buckets...)...)
			h := faulted(1000, 1300, 2000, ops...)
			r, err := RecoveryTime(h, 100*ms, 0.99)
			if err != nil {
				t.Fatal(err)
			}
			if r.Recovered != tt.recovered {
				t.Fatalf("recovered = %v, want %v (%v)", r.Recovered, tt.recovered, r)
			}
			if !r.Recovered {
				if !strings.Contains(r.Reason, tt.reasonIfNotFound) {
					t.Fatalf("reason %q, want it to mention %q", r.Reason, tt.reasonIfNotFound)
				}
				return
			}
			if r.SinceInject != tt.sinceInject || r.SinceHeal != tt.sinceHeal || r.At != 1000*ms+tt.sinceInject {
				t.Fatalf("got %+v, want since inject %v, since heal %v", r, tt.sinceInject, tt.sinceHeal)
			}
		})
	}
}

func TestRecoveryTimeErrors(t *testing.T) {
	if _, err := RecoveryTime(history.History{End: time.Second}, 100*ms, 0.99); !errors.Is(err, ErrNoFault) {
		t.Errorf("no fault: err = %v", err)
	}
	if _, err := RecoveryTime(faulted(100, 200, 300), 0, 0.99); err == nil {
		t.Error("zero width: want error")
	}
}

// How a recovery reads: a fault that did no harm, one routed around before
// the heal, one that lasted past it.
func TestRecoveryString(t *testing.T) {
	for _, tc := range []struct {
		r    Recovery
		want string
	}{
		{Recovery{Recovered: true, Threshold: 0.99}, "never below 0.99: the fault did not hurt availability"},
		{Recovery{Recovered: true, SinceInject: time.Second, SinceHeal: -4 * time.Second}, "recovered 1s after inject, while the fault was still in place (4s before the heal)"},
		{Recovery{Recovered: true, SinceInject: 7 * time.Second, SinceHeal: 2 * time.Second}, "recovered 7s after inject (2s after heal)"},
		{Recovery{Reason: "availability still below 0.99"}, "not recovered: availability still below 0.99"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}
