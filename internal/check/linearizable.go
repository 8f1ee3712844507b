package check

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/scalelab/scalelab/internal/history"
)

// Linearizability is porcupine's verdict on a history, key by key.
type Linearizability struct {
	// Result is Illegal if any key is, else Unknown if any key timed out,
	// else Ok. Ok for a history with no reads or writes.
	Result porcupine.CheckResult `json:"result"`
	// Illegal and Unknown list the keys with that result, sorted.
	Illegal []string `json:"illegal,omitempty"`
	Unknown []string `json:"unknown,omitempty"`
	Keys    int      `json:"keys"` // keys checked
}

func (l Linearizability) String() string {
	return fmt.Sprintf("%s (%d keys, %d illegal, %d timed out)", l.Result, l.Keys, len(l.Illegal), len(l.Unknown))
}

// registerInput is one operation on a single-key register.
type registerInput struct {
	write bool
	value string // written value; unused for reads
}

// registerModel is a register per key: a write sets the value, a read returns
// it, and a key starts missing (""). Partitioning by key is done by the
// caller, which also tells which key failed.
var registerModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(registerInput)
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		if in.write {
			return fmt.Sprintf("write(%q)", in.value)
		}
		return fmt.Sprintf("read() -> %q", output)
	},
}

// never is the return time of an op whose outcome is unknown: it may take
// effect at any point after its call, even long after the client gave up (the
// app finishes a timed-out store call in the background, a frozen server
// applies a request when it thaws), so its interval stays open to the end.
const never = int64(1) << 62

// Linearizable checks each key's reads and writes against a register with
// porcupine, within an overall timeout (0 means none). Keys are checked in
// parallel; keys not finished when the time is up report Unknown.
//
// Failed ops are left out: they certainly had no effect. Unknown writes stay
// in with an open-ended interval, since they may have happened at any time
// after their call. Unknown reads are left out: a read with no answer
// constrains nothing. Other kinds are not register operations.
//
// Porcupine is exponential in the worst case (many concurrent writes to one
// key); with short requests and many keys it is fast, which is why the result
// can still be Unknown and callers must not treat Unknown as Ok.
func Linearizable(h history.History, timeout time.Duration) Linearizability {
	perKey := make(map[string][]porcupine.Operation)
	for _, op := range h.Ops {
		if op.Kind != history.Read && op.Kind != history.Write {
			continue
		}
		ret := int64(op.Complete)
		switch {
		case op.Outcome == history.Failed:
			continue
		case op.Outcome != history.OK && op.Kind == history.Read:
			continue
		case op.Outcome != history.OK:
			ret = never
		}
		perKey[op.Key] = append(perKey[op.Key], porcupine.Operation{
			ClientId: op.Client,
			Input:    registerInput{write: op.Kind == history.Write, value: op.Value},
			Call:     int64(op.Invoke),
			Output:   op.Value, // for writes, ignored by the model
			Return:   ret,
		})
	}

	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	keys := make(chan string)
	results := make(map[string]porcupine.CheckResult, len(perKey))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(perKey), 1)) {
		wg.Go(func() {
			for k := range keys {
				res := porcupine.Unknown
				if deadline.IsZero() {
					res = porcupine.CheckOperationsTimeout(registerModel, perKey[k], 0)
				} else if left := time.Until(deadline); left > 0 {
					res = porcupine.CheckOperationsTimeout(registerModel, perKey[k], left)
				}
				mu.Lock()
				results[k] = res
				mu.Unlock()
			}
		})
	}
	for k := range perKey {
		keys <- k
	}
	close(keys)
	wg.Wait()

	l := Linearizability{Result: porcupine.Ok, Keys: len(perKey)}
	for k, res := range results {
		switch res {
		case porcupine.Illegal:
			l.Illegal = append(l.Illegal, k)
		case porcupine.Unknown:
			l.Unknown = append(l.Unknown, k)
		}
	}
	sort.Strings(l.Illegal)
	sort.Strings(l.Unknown)
	switch {
	case len(l.Illegal) > 0:
		l.Result = porcupine.Illegal
	case len(l.Unknown) > 0:
		l.Result = porcupine.Unknown
	}
	return l
}
