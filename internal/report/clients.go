package report

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/scalelab/scalelab/internal/history"
)

// ClientAnswers is what one client's requests got, as far as a rate limit
// is concerned (stage 12: the gateway refuses a key over its limit with
// 429).
type ClientAnswers struct {
	// Name is a workload client's ("client 3") or the name of who sent a
	// fault's own requests (the abusive client's API key, "abuser").
	Name string `json:"name"`
	// Workload tells the workload's clients (measured) from a fault's
	// (load: history.Tally).
	Workload bool  `json:"workload"`
	Requests int64 `json:"requests"`
	// Limited are the requests answered 429.
	Limited int64 `json:"limited"`
	// NotSent are a fault's requests it did not send, too many waiting
	// for an answer already.
	NotSent int64 `json:"not_sent,omitempty"`
}

// clientAnswers counts each client's requests and 429s over the run: a
// fault's tallies first, then the workload's clients in order. Absent
// (nil) unless some request of the run was answered 429 or a fault sent
// requests of its own.
func clientAnswers(h history.History) []ClientAnswers {
	byClient := map[int]*ClientAnswers{}
	limited := false
	for _, op := range h.Ops {
		c := byClient[op.Client]
		if c == nil {
			c = &ClientAnswers{Name: fmt.Sprintf("client %d", op.Client), Workload: true}
			byClient[op.Client] = c
		}
		c.Requests++
		if op.Status == http.StatusTooManyRequests {
			c.Limited++
			limited = true
		}
	}
	if !limited && len(h.Tallies) == 0 {
		return nil
	}
	var out []ClientAnswers
	for _, t := range h.Tallies {
		name := t.Client
		if name == "" {
			name = t.Fault
		}
		out = append(out, ClientAnswers{Name: name, Requests: t.Sent, Limited: t.ByStatus[http.StatusTooManyRequests], NotSent: t.Skipped})
	}
	ids := make([]int, 0, len(byClient))
	for id := range byClient {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		out = append(out, *byClient[id])
	}
	return out
}
