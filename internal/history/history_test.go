package history

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A history is saved as JSON and checked again offline: every field must
// come back as it was, the page-load fields included.
func TestHistoryJSONRoundTrip(t *testing.T) {
	h := History{
		Ops: []Op{
			{Client: 1, Kind: Write, Key: "u1", Value: "c1-w1", Version: 3, Status: 200, Invoke: 10, Complete: 20, Outcome: OK, Server: "web1"},
			{Client: 2, Kind: Read, Key: "u1", Status: 503, Error: "503: down", Invoke: 30, Complete: 40, Outcome: Failed},
			{Client: 0, Kind: Page, Key: "/page", Value: "2", Status: 200, Invoke: 50, Complete: 60, Outcome: OK},
			{Client: 0, Kind: Asset, Key: "/static/app.js", Value: "1", Expect: "2", Source: SourceOrigin, Status: 200,
				Error: "", Invoke: 61, Complete: 70, Outcome: OK},
		},
		Events: []Event{{At: 45, Kind: FaultInjected, Fault: "kill edge", Note: "n"}},
		End:    time.Second,
		Final:  map[string]string{"u1": "c1-w1"},
	}
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back History
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	if !reflect.DeepEqual(back, h) {
		t.Fatalf("round trip changed the history:\n got %+v\nwant %+v", back, h)
	}
}

// Ops that are not asset loads carry no expect or source field: histories
// of the other stages keep their shape.
func TestAssetFieldsOmittedWhenEmpty(t *testing.T) {
	data, err := json.Marshal(Op{Kind: Read, Key: "u1", Outcome: OK})
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"expect"`, `"source"`} {
		if strings.Contains(string(data), field) {
			t.Errorf("%s has %s", data, field)
		}
	}
}
