package stacks

import (
	"strings"
	"testing"
	"time"
)

func testMonitoring() MonitoringConfig {
	return MonitoringConfig{
		Targets:        []ScrapeTarget{{Job: "web", Node: "web-1"}, {Job: "web", Node: "web-2"}},
		Rules:          []AlertRule{{Name: "TargetDown", Expr: `up{job="web"} == 0`, Summary: "down"}},
		ScrapeInterval: time.Second, ScrapeTimeout: 500 * time.Millisecond, EvalInterval: time.Second,
		GroupWait: 100 * time.Millisecond, GroupInterval: time.Second, SendResolved: true,
	}
}

// Prometheus's config names each target by its link and labels it by its
// node; the rule's expression is quoted; Alertmanager pages the alert log.
func TestMonitoringRendersPrometheusAndAlertmanager(t *testing.T) {
	c := testMonitoring()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := c.PrometheusFiles()
	for _, want := range []string{`scrape_interval: 1000ms`, `targets: ["${web-2}"]`, `labels: {instance: "web-2"}`, `targets: ["${alertmanager}"]`} {
		if !strings.Contains(p[PrometheusConfigPath], want) {
			t.Errorf("prometheus.yml lacks %q:\n%s", want, p[PrometheusConfigPath])
		}
	}
	if !strings.Contains(p[PrometheusRulesPath], `expr: "up{job=\"web\"} == 0"`) {
		t.Errorf("rules:\n%s", p[PrometheusRulesPath])
	}
	a := c.AlertmanagerFiles()[AlertmanagerConfig]
	for _, want := range []string{`url: "http://${alertlog}/alerts"`, `send_resolved: true`, `group_wait: 100ms`} {
		if !strings.Contains(a, want) {
			t.Errorf("alertmanager.yml lacks %q:\n%s", want, a)
		}
	}
}

func TestMonitoringRefusesABadConfig(t *testing.T) {
	for name, mod := range map[string]func(*MonitoringConfig){
		"no targets":         func(c *MonitoringConfig) { c.Targets = nil },
		"bad node":           func(c *MonitoringConfig) { c.Targets[0].Node = "Web 1" },
		"timeout > interval": func(c *MonitoringConfig) { c.ScrapeTimeout = 2 * time.Second },
		"rule without expr":  func(c *MonitoringConfig) { c.Rules[0].Expr = "" },
		"tiny eval":          func(c *MonitoringConfig) { c.EvalInterval = time.Millisecond },
	} {
		c := testMonitoring()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
