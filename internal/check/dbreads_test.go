package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestDBReadsIn(t *testing.T) {
	s := time.Second
	read := func(key string, at time.Duration, status int, answer string) history.Op {
		return history.Op{Kind: history.Read, Key: key, Invoke: at, Complete: at + time.Millisecond, Status: status, Outcome: history.OK, Cache: answer}
	}
	write := func(key string, from, to time.Duration, out history.Outcome) history.Op {
		return history.Op{Kind: history.Write, Key: key, Invoke: from, Complete: to, Status: 200, Outcome: out}
	}
	h := history.History{End: 10 * s, Ops: []history.Op{
		// u1: a stampede, four reads of the database and one shared answer.
		read("u1", 2*s, 200, "miss"), read("u1", 2*s+10, 200, "miss"), read("u1", 2*s+20, 200, "error"),
		read("u1", 2*s+30, 200, "miss"), read("u1", 2*s+40, 200, "shared"), read("u1", 3*s, 200, "hit"),
		// u2: one fill per episode: after the window opens, and after each of two writes.
		read("u2", 2*s, 200, "miss"), read("u2", 3*s, 200, "miss"), read("u2", 4*s, 200, "miss"),
		write("u2", 2500*time.Millisecond, 2600*time.Millisecond, history.OK),
		write("u2", 1900*time.Millisecond, 2100*time.Millisecond, history.OK), // overlaps the start
		write("u2", 500*time.Millisecond, 600*time.Millisecond, history.OK),   // before: not counted
		write("u2", 1*s, 1100*time.Millisecond, history.Unknown),              // unknown: may land in the window
		// Not counted: outside the window, a 404, no answer said.
		read("u3", 1*s, 200, "miss"), read("u3", 6*s, 200, "miss"), read("u3", 3*s, 404, "miss"), read("u3", 3*s, 200, ""),
	}}
	d := DBReadsIn(h, Window{From: 2 * s, To: 5 * s, Name: "fault"})
	if d.Reads != 9 || d.DB != 7 {
		t.Errorf("reads %d, db %d; want 9, 7", d.Reads, d.DB)
	}
	if got := d.ByKey["u1"]; got != (KeyDBReads{DB: 4}) {
		t.Errorf("u1: %+v", got)
	}
	if got := d.ByKey["u2"]; got != (KeyDBReads{DB: 3, Writes: 3}) {
		t.Errorf("u2: %+v", got)
	}
	if _, ok := d.ByKey["u3"]; ok {
		t.Errorf("u3 counted: %+v", d.ByKey["u3"])
	}

	// One fill per episode: one as the window opens, one per write.
	over := d.Over(func(k KeyDBReads) int { return 1 + k.Writes })
	if len(over) != 1 || over[0] != (KeyOver{Key: "u1", DB: 4, Allowed: 1}) {
		t.Errorf("over: %+v, want u1 with 4 of 1", over)
	}
	if over := d.Over(func(k KeyDBReads) int { return 4 * (1 + k.Writes) }); len(over) != 0 {
		t.Errorf("over a generous allowance: %+v", over)
	}
}

func TestDBReadsEmpty(t *testing.T) {
	d := DBReadsIn(history.History{End: time.Second}, Window{From: 0, To: time.Second, Name: "fault"})
	if d.Reads != 0 || len(d.Over(func(KeyDBReads) int { return 0 })) != 0 {
		t.Errorf("%+v", d)
	}
	if got := d.String(); got == "" {
		t.Error("no description")
	}
}
