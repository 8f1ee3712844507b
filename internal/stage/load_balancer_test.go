package stage

import (
	"strings"
	"testing"
	"time"
)

func TestLoadBalancerStackFollowsItsSettings(t *testing.T) {
	st, err := Get("load-balancer")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := st.Fault("kill-web")
	set, err := st.Resolve(Settings{"servers": "2", "weights": "1,3", "balance": "roundrobin", "retries": "off", "check_interval": "200ms"}, f)
	if err != nil {
		t.Fatal(err)
	}
	topo := st.Stack(set)
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	standby, ok := topo.Node("web-3")
	if !ok || !standby.Standby {
		t.Errorf("web-3 must be the standby of a 2-server stack: %+v", standby)
	}
	lb, _ := topo.Node("lb")
	var cfg string
	for _, c := range lb.Files {
		cfg = c
	}
	for _, want := range []string{"balance roundrobin", "retries 0", "inter 200ms", "server web-2 ${web-2} check weight 3", "server web-3 ${web-3} check weight 1"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	// web-1 weighs 1 of 4: a quarter of the traffic is at risk while it is
	// undetected; 2 x fall x interval = 800 ms.
	if got := lbShare(set); got != 0.25 {
		t.Errorf("share of web-1: %v", got)
	}
	if got := lbDetection(set); got != 800*time.Millisecond {
		t.Errorf("detection window: %v", got)
	}
	for _, bad := range []Settings{{"servers": "0"}, {"weights": "1,x"}, {"check_interval": "1ms"}, {"balance": "random"}} {
		if _, err := st.Resolve(bad, f); err == nil {
			t.Errorf("Resolve(%v) accepted it", bad)
		}
	}
}
