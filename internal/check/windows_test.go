package check

import (
	"errors"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestWindows(t *testing.T) {
	ev := func(at int, kind history.EventKind, fault string) history.Event {
		return history.Event{At: time.Duration(at) * ms, Kind: kind, Fault: fault}
	}
	tests := []struct {
		name    string
		events  []history.Event
		want    FaultWindows
		wantErr bool
	}{
		{
			name:   "one fault",
			events: []history.Event{ev(100, history.FaultInjected, "a"), ev(200, history.FaultHealed, "a")},
			want: FaultWindows{
				Before: Window{0, 100 * ms, Before}, During: Window{100 * ms, 200 * ms, During},
				After: Window{200 * ms, 1000 * ms, After}, Inject: 100 * ms, Heal: 200 * ms,
			},
		},
		{
			name: "two faults, recorded out of order: first inject to last heal",
			events: []history.Event{
				ev(400, history.FaultHealed, "b"), ev(300, history.FaultInjected, "b"),
				ev(100, history.FaultInjected, "a"), ev(200, history.FaultHealed, "a"),
			},
			want: FaultWindows{
				Before: Window{0, 100 * ms, Before}, During: Window{100 * ms, 400 * ms, During},
				After: Window{400 * ms, 1000 * ms, After}, Inject: 100 * ms, Heal: 400 * ms,
			},
		},
		{name: "no events", wantErr: true},
		{name: "inject only", events: []history.Event{ev(100, history.FaultInjected, "a")}, wantErr: true},
		{name: "heal before inject", events: []history.Event{ev(100, history.FaultHealed, "a"), ev(200, history.FaultInjected, "a")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Windows(history.History{Events: tt.events, End: 1000 * ms})
			if tt.wantErr {
				if !errors.Is(err, ErrNoFault) {
					t.Fatalf("err = %v, want ErrNoFault", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWindowContainsIsHalfOpen(t *testing.T) {
	w := Window{From: 100 * ms, To: 200 * ms}
	for _, c := range []struct {
		t    time.Duration
		want bool
	}{{99 * ms, false}, {100 * ms, true}, {199 * ms, true}, {200 * ms, false}} {
		if got := w.Contains(c.t); got != c.want {
			t.Errorf("Contains(%v) = %v, want %v", c.t, got, c.want)
		}
	}
}
