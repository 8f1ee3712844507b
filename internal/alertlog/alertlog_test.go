package alertlog

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// An alert that fires, then resolves: the log's metrics follow it; a body
// that is not a notification is refused.
func TestAlertLogFollowsWhatAlertmanagerSent(t *testing.T) {
	srv := httptest.NewServer(New(nil).Handler())
	defer srv.Close()
	post := func(body string) int {
		resp, err := http.Post(srv.URL+"/alerts", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	metrics := func() string {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	notification := func(status string) string {
		return `{"version":"4","status":"` + status + `","alerts":[{"status":"` + status +
			`","labels":{"alertname":"TargetDown","instance":"web-1","job":"web"}}]}`
	}
	if code := post(notification("firing")); code != http.StatusOK {
		t.Fatalf("firing: %d", code)
	}
	if m := metrics(); !strings.Contains(m, `alertlog_firing{alertname="TargetDown",instance="web-1"} 1`) {
		t.Errorf("after firing:\n%s", m)
	}
	post(notification("resolved"))
	m := metrics()
	for _, want := range []string{
		`alertlog_firing{alertname="TargetDown",instance="web-1"} 0`,
		`alertlog_notifications_total{alertname="TargetDown",instance="web-1",status="firing"} 1`,
		`alertlog_notifications_total{alertname="TargetDown",instance="web-1",status="resolved"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("after resolved, no %s in\n%s", want, m)
		}
	}
	if code := post("not json"); code != http.StatusBadRequest {
		t.Errorf("a bad body: %d", code)
	}
}
