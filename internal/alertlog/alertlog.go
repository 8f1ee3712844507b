// Package alertlog is the lab's webhook receiver for Alertmanager (stage
// 10): it records every notification it is sent and serves, as Prometheus
// text, each alert's state as it last heard it, which the lab samples on
// its own clock. It is the pager at the end of the alerting path: an alert
// counts once it arrived here, not when a rule's expression turned true.
package alertlog

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Notification is what Alertmanager's webhook sends (version 4), the
// fields the log keeps.
type Notification struct {
	Status string  `json:"status"`
	Alerts []Alert `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status string            `json:"status"` // firing or resolved
	Labels map[string]string `json:"labels"`
}

// Received is one alert as it arrived.
type Received struct {
	At        time.Time `json:"at"`
	Status    string    `json:"status"`
	AlertName string    `json:"alertname"`
	Instance  string    `json:"instance,omitempty"`
}

// Log is the receiver.
type Log struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	all   []Received
	state map[key]string // the last status heard
	count map[key]map[string]int
}

type key struct{ alertname, instance string }

// New is an empty log; log may be nil.
func New(log *slog.Logger) *Log {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Log{log: log, now: time.Now, state: map[key]string{}, count: map[key]map[string]int{}}
}

// Handler serves POST /alerts (the webhook), GET /alerts (every alert
// received, as JSON), GET /metrics and GET /healthz.
func (l *Log) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /alerts", l.receive)
	mux.HandleFunc("GET /alerts", func(w http.ResponseWriter, _ *http.Request) {
		l.mu.Lock()
		defer l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(l.all)
	})
	mux.HandleFunc("GET /metrics", l.metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

func (l *Log) receive(w http.ResponseWriter, r *http.Request) {
	var n Notification
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&n); err != nil {
		http.Error(w, "want Alertmanager's webhook JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	at := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range n.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			continue
		}
		k := key{a.Labels["alertname"], a.Labels["instance"]}
		l.all = append(l.all, Received{At: at, Status: a.Status, AlertName: k.alertname, Instance: k.instance})
		l.state[k] = a.Status
		if l.count[k] == nil {
			l.count[k] = map[string]int{}
		}
		l.count[k][a.Status]++
		l.log.Info("alert", "alertname", k.alertname, "instance", k.instance, "status", a.Status)
	}
}

// Firing is the metric that is 1 while an alert was last heard firing,
// 0 once it was heard resolved; Notifications counts what was heard.
const (
	Firing        = "alertlog_firing"
	Notifications = "alertlog_notifications_total"
)

func (l *Log) metrics(w http.ResponseWriter, _ *http.Request) {
	l.mu.Lock()
	keys := make([]key, 0, len(l.state))
	for k := range l.state {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].alertname+"\x00"+keys[i].instance < keys[j].alertname+"\x00"+keys[j].instance
	})
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE %s gauge\n# TYPE %s counter\n", Firing, Notifications)
	for _, k := range keys {
		v := 0
		if l.state[k] == "firing" {
			v = 1
		}
		fmt.Fprintf(&b, "%s{alertname=%q,instance=%q} %d\n", Firing, k.alertname, k.instance, v)
		for _, st := range []string{"firing", "resolved"} {
			fmt.Fprintf(&b, "%s{alertname=%q,instance=%q,status=%q} %d\n", Notifications, k.alertname, k.instance, st, l.count[k][st])
		}
	}
	l.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	io.WriteString(w, b.String())
}
