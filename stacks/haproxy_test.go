package stacks

import (
	"strings"
	"testing"
	"time"
)

func TestHAProxyConfigRendersRetriesPerMethod(t *testing.T) {
	c := HAProxyConfig{
		Servers:       []HAProxyServer{{Name: "web-1", Addr: "${web-1}", Weight: 1}, {Name: "web-2", Addr: "${web-2}", Weight: 2, Standby: true}},
		Balance:       "leastconn",
		CheckInterval: 500 * time.Millisecond, Fall: 2, Rise: 2,
		Retries:     true,
		ReadTimeout: time.Second, WriteTimeout: 3 * time.Second,
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg := c.Render()
	for _, want := range []string{
		"default-server inter 500ms fall 2 rise 2",
		"timeout check 500ms",
		"retry-on conn-failure empty-response response-timeout", // reads
		"retry-on conn-failure empty-response\n",                // writes: never on a timeout
		"server web-1 ${web-1} check weight 1",
		"server web-2 ${web-2} track reads/web-2 weight 2",
		"monitor-uri " + HAProxyHealthPath,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	c.Retries = false
	if cfg := c.Render(); !strings.Contains(cfg, "retries 0") || strings.Contains(cfg, "redispatch") {
		t.Errorf("retries off must turn off HAProxy's default connection retries too:\n%s", cfg)
	}
	c.Balance = "random"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "balance") {
		t.Errorf("Validate: %v", err)
	}
	role := HAProxy(c)
	if ready := strings.Join(role.Ready, " "); !strings.Contains(ready, "up='web-1'") || !strings.Contains(ready, "down='web-2'") {
		t.Errorf("readiness must wait for web-1 up and the standby web-2 down: %s", ready)
	}
}

func TestParseHAProxyStats(t *testing.T) {
	csv := "# pxname,svname,scur,status,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,\n" +
		"www,FRONTEND,0,OPEN,0,300,0,20,0,0,\n" +
		"reads,web-1,0,UP,0,100,0,10,1,0,\n" +
		"reads,web-2,0,DOWN,0,0,0,0,0,0,\n" +
		"reads,BACKEND,0,UP,0,100,0,10,1,0,\n" +
		"writes,web-1,0,UP,0,90,0,0,2,0,\n" +
		"writes,web-2,0,DOWN,0,0,0,0,0,0,\n"
	got, err := parseHAProxyStats(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (HAProxyServerStat{Name: "web-1", Status: "UP", Responses: 203}) || got[1].Status != "DOWN" || got[1].Responses != 0 {
		t.Errorf("parse: %+v", got)
	}
}

func TestHAProxyConfigRendersCookieStickiness(t *testing.T) {
	c := HAProxyConfig{
		Servers:       []HAProxyServer{{Name: "web-1", Addr: "${web-1}", Weight: 1}},
		Balance:       "leastconn",
		CheckInterval: 500 * time.Millisecond, Fall: 2, Rise: 2,
		ReadTimeout: time.Second, WriteTimeout: 3 * time.Second,
	}
	if cfg := c.Render(); strings.Contains(cfg, "cookie") {
		t.Errorf("no Cookie, no stickiness:\n%s", cfg)
	}
	c.Cookie = "SRV"
	cfg := c.Render()
	for _, want := range []string{
		"cookie SRV insert indirect nocache",
		"server web-1 ${web-1} check weight 1 cookie web-1",
		"server web-1 ${web-1} track reads/web-1 weight 1 cookie web-1",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}
