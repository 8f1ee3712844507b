package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestAvailabilityIn(t *testing.T) {
	// fault [100, 200), end 300
	h := faulted(100, 200, 300,
		other(0, 5, history.OK), rd(1, "k", "", 10, 15), wr(1, "k", "v1", 20, 25), other(90, 95, history.Failed),
		other(100, 150, history.Failed), other(120, 620, history.Unknown), other(150, 151, history.Failed), other(199, 250, history.OK),
		other(200, 201, history.OK), other(250, 251, history.OK),
	)
	fw, err := Windows(h)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		w      Window
		want   Counts
		value  float64
		noData bool
	}{
		{fw.Before, Counts{OK: 3, Failed: 1}, 0.75, false},
		{fw.During, Counts{OK: 1, Failed: 2, Unknown: 1}, 0.25, false},
		{fw.After, Counts{OK: 2}, 1, false},
		{WholeRun(h), Counts{OK: 6, Failed: 3, Unknown: 1}, 0.6, false},
		{Window{From: 300 * ms, To: 400 * ms, Name: "empty"}, Counts{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.w.Name, func(t *testing.T) {
			a := AvailabilityIn(h, tt.w)
			if a.Counts != tt.want || a.Value != tt.value || a.NoData != tt.noData {
				t.Fatalf("got %+v, want counts %+v value %v noData %v", a, tt.want, tt.value, tt.noData)
			}
			if _, ok := a.Ratio(); ok == tt.noData {
				t.Fatalf("Ratio ok = %v with noData %v", ok, tt.noData)
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	h := faulted(100, 200, 330,
		other(0, 1, history.OK), other(10, 11, history.OK), other(99, 100, history.Failed), // [0,100): 2/3
		// [100,200): empty
		other(200, 201, history.Unknown), other(299, 300, history.OK), // [200,300): 1/2
		other(300, 301, history.OK), // [300,330): partial last bucket
		other(330, 331, history.OK), // at End: outside the run
	)
	got, err := Buckets(h, WholeRun(h), 100*ms)
	if err != nil {
		t.Fatal(err)
	}
	want := []Bucket{
		{Start: 0, End: 100 * ms, Counts: Counts{OK: 2, Failed: 1}, Availability: 2.0 / 3},
		{Start: 100 * ms, End: 200 * ms, NoData: true},
		{Start: 200 * ms, End: 300 * ms, Counts: Counts{OK: 1, Unknown: 1}, Availability: 0.5},
		{Start: 300 * ms, End: 330 * ms, Counts: Counts{OK: 1}, Availability: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d buckets, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bucket %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBucketsAlignOnWindowStart(t *testing.T) {
	h := faulted(100, 200, 300, other(130, 131, history.OK), other(160, 161, history.Failed))
	got, err := Buckets(h, Window{From: 130 * ms, To: 190 * ms}, 25*ms)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Start != 130*ms || got[0].OK != 1 || got[1].Failed != 1 || !got[2].NoData || got[2].End != 190*ms {
		t.Fatalf("got %+v", got)
	}
}

func TestBucketsRejectsBadWidth(t *testing.T) {
	for _, w := range []time.Duration{0, -ms} {
		if _, err := Buckets(history.History{End: time.Second}, Window{To: time.Second}, w); err == nil {
			t.Errorf("width %v: want error", w)
		}
	}
}
