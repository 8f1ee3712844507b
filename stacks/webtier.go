package stacks

import "fmt"

// WebTier is the web tier of stages 3 and later: Servers mysite servers
// web-1..web-N behind a load balancer "lb" (HAProxy), plus one standby
// web-N+1 that a scale-out fault starts. Every server links lb->web-i and
// web-i->X for each node X in Uses (the database, the session store).
type WebTier struct {
	Servers int
	// LB is the load balancer's configuration; Add fills in its servers.
	LB HAProxyConfig
	// Weight is server i's weight (1-based); nil means 1 for every one.
	Weight func(i int) int
	// Args are the mysite arguments of the named server.
	Args func(name string) []string
	// Uses are the nodes every web server talks to.
	Uses []string
}

// WebName is the name of web server i (1-based).
func WebName(i int) string { return fmt.Sprintf("web-%d", i) }

// Add puts the servers, the standby, the load balancer and their links
// into t, and the entry link client->lb.
func (w WebTier) Add(t *Topology) {
	t.Links = append(t.Links, Link{From: Client, To: "lb"})
	cfg := w.LB
	for i := 1; i <= w.Servers+1; i++ {
		name, standby := WebName(i), i == w.Servers+1
		t.Nodes = append(t.Nodes, Node{Name: name, Role: Mysite(), Standby: standby, Args: w.Args(name)})
		t.Links = append(t.Links, Link{From: "lb", To: name})
		for _, to := range w.Uses {
			t.Links = append(t.Links, Link{From: name, To: to})
		}
		weight := 1
		if w.Weight != nil {
			weight = w.Weight(i)
		}
		cfg.Servers = append(cfg.Servers, HAProxyServer{Name: name, Addr: "${" + name + "}", Weight: weight, Standby: standby})
	}
	t.Nodes = append(t.Nodes, Node{Name: "lb", Role: HAProxy(cfg), Files: map[string]string{HAProxyConfigPath: cfg.Render()}})
}
