package check

import (
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Test histories are written in milliseconds to stay readable.
const ms = time.Millisecond

func op(client int, kind history.Kind, key, value string, inv, comp int, out history.Outcome) history.Op {
	return history.Op{Client: client, Kind: kind, Key: key, Value: value,
		Invoke: time.Duration(inv) * ms, Complete: time.Duration(comp) * ms, Outcome: out}
}

// wr is an acknowledged write, rd a successful read.
func wr(client int, key, value string, inv, comp int) history.Op {
	return op(client, history.Write, key, value, inv, comp, history.OK)
}

func rd(client int, key, value string, inv, comp int) history.Op {
	return op(client, history.Read, key, value, inv, comp, history.OK)
}

func with(o history.Op, out history.Outcome) history.Op { o.Outcome = out; return o }

func version(o history.Op, v int64) history.Op { o.Version = v; return o }

// faulted is a history with one fault injected at inject and healed at heal.
func faulted(inject, heal, end int, ops ...history.Op) history.History {
	return history.History{
		Ops: ops,
		Events: []history.Event{
			{At: time.Duration(inject) * ms, Kind: history.FaultInjected, Fault: "kill"},
			{At: time.Duration(heal) * ms, Kind: history.FaultHealed, Fault: "kill"},
		},
		End: time.Duration(end) * ms,
	}
}

// other is an op that only counts for availability.
func other(inv, comp int, out history.Outcome) history.Op {
	return op(0, history.Other, "", "", inv, comp, out)
}
