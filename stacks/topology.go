// Package stacks boots a stage's servers as containers: one private Docker
// network, named nodes, one Toxiproxy node, and a named link through Toxiproxy
// for every connection from one node to another.
//
// A Topology is plain data. Boot turns it into a running Stack; Terminate
// removes every container and the network again.
package stacks

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Client is the pseudo-node for the machine the lab runs on: a link
// "client->web" is the entry point the workload uses, published on 127.0.0.1.
const Client = "client"

// ProxyNode is the name (and network alias) of the stack's Toxiproxy node.
const ProxyNode = "toxiproxy"

// Topology is a stack as data.
type Topology struct {
	Name  string
	Nodes []Node
	Links []Link
}

// Node is one server of a stack: a role (what runs) plus its own settings.
type Node struct {
	Name string
	Role Role
	// Args are appended to the role's command; Env is added to its environment.
	// Both may name a link of this node as ${NAME}, which becomes the address
	// ("toxiproxy:20001") through which this node reaches node NAME.
	Args []string
	Env  map[string]string
	// Files are written into the container before it starts (path ->
	// content), e.g. a generated haproxy.cfg. Contents are expanded like Args.
	Files map[string]string
	// Standby nodes are created with the stack but not started: a fault
	// (faults.AddNode) brings them in later, e.g. a web server added under load.
	Standby bool
	// Networks are the named networks the node is on (a data center's,
	// "east"), each a Docker network of its own; the first is its home,
	// where its links dial it. Empty: the stack's own network. Toxiproxy is
	// on every network, so links cross them; nothing else does.
	Networks []string
	// RecheckReady: the node's readiness depends on the others (a DNS
	// server's health checks of the data centers' entries), so its probe
	// runs again once every node is ready. Nodes boot side by side; a
	// check made while a web server behind an entry was still starting
	// would otherwise leave its verdict for the run's first seconds.
	RecheckReady bool
}

// Home is the named network a node's links dial it on, "" for the
// stack's own network.
func (n Node) Home() string {
	if len(n.Networks) == 0 {
		return ""
	}
	return n.Networks[0]
}

// Link is a connection from one node to another, through Toxiproxy. Every
// connection between two nodes is one.
type Link struct {
	From, To string
	// ListenOn, when set, names a network: the link listens there on
	// Toxiproxy's own address (EntryHost(ListenOn), an address the machine
	// running the lab can reach) at ListenPort, instead of on a port of
	// its own on every address. How a site with several entries (one per
	// data center) is reached by its DNS answers: an answer is an address,
	// and the port is the site's. Such a link is not published on
	// 127.0.0.1.
	ListenOn   string
	ListenPort int
	// Distance is a round-trip latency the link always has, from boot:
	// the distance between two data centers. Faults add to it.
	Distance time.Duration
}

// EntryHost is Toxiproxy's name (a network alias) on network net: the
// address of the links that listen on that network (Link.ListenOn).
func EntryHost(net string) string { return "entry-" + net }

// Name is the link's name, "from->to", used by faults and reports.
func (l Link) Name() string { return l.From + "->" + l.To }

// ParseLink reads "from->to".
func ParseLink(name string) (Link, error) {
	from, to, ok := strings.Cut(name, "->")
	if !ok || from == "" || to == "" {
		return Link{}, fmt.Errorf("link %q: want the form from->to, e.g. web->db", name)
	}
	return Link{From: from, To: to}, nil
}

// firstLinkPort is where the proxies' listen ports start, in link order.
const firstLinkPort = 20000

var nodeName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// ValidName tells whether name may name a node or a stack (and so a
// stage): lowercase letters, digits and dashes, a letter first, at most
// 31 characters.
func ValidName(name string) bool { return nodeName.MatchString(name) }

// Validate checks a topology before anything is booted, naming every problem.
func (t Topology) Validate() error {
	var problems []string
	if !nodeName.MatchString(t.Name) {
		problems = append(problems, fmt.Sprintf("stack name %q: use lowercase letters, digits and dashes", t.Name))
	}
	seen := map[string]bool{}
	for _, n := range t.Nodes {
		switch {
		case !nodeName.MatchString(n.Name):
			problems = append(problems, fmt.Sprintf("node name %q: use lowercase letters, digits and dashes", n.Name))
		case n.Name == Client || n.Name == ProxyNode:
			problems = append(problems, fmt.Sprintf("node name %q is reserved", n.Name))
		case seen[n.Name]:
			problems = append(problems, fmt.Sprintf("node %q is declared twice", n.Name))
		}
		seen[n.Name] = true
		if n.Role.Kind == "" || len(n.Role.Cmd) == 0 {
			problems = append(problems, fmt.Sprintf("node %q has no role", n.Name))
		}
	}
	nets := map[string]bool{}
	for _, n := range t.Nodes {
		for _, net := range n.Networks {
			if !nodeName.MatchString(net) {
				problems = append(problems, fmt.Sprintf("node %q: network name %q: use lowercase letters, digits and dashes", n.Name, net))
			}
			nets[net] = true
		}
	}
	links := map[string]bool{}
	listens := map[string]string{}
	for _, l := range t.Links {
		if l.ListenOn != "" {
			at := fmt.Sprintf("%s:%d", l.ListenOn, l.ListenPort)
			switch {
			case !nets[l.ListenOn]:
				problems = append(problems, fmt.Sprintf("link %s listens on network %q, which no node is on", l.Name(), l.ListenOn))
			case l.ListenPort < 1 || l.ListenPort > 65535:
				problems = append(problems, fmt.Sprintf("link %s: listen port %d: want 1-65535", l.Name(), l.ListenPort))
			case listens[at] != "":
				problems = append(problems, fmt.Sprintf("links %s and %s both listen on %s", listens[at], l.Name(), at))
			}
			listens[at] = l.Name()
		}
		if l.From != Client && !seen[l.From] {
			problems = append(problems, fmt.Sprintf("link %s: no node %q", l.Name(), l.From))
		}
		if !seen[l.To] {
			problems = append(problems, fmt.Sprintf("link %s: no node %q", l.Name(), l.To))
		} else if t.node(l.To).Role.Port == 0 {
			problems = append(problems, fmt.Sprintf("link %s: node %q serves no port", l.Name(), l.To))
		}
		if links[l.Name()] {
			problems = append(problems, fmt.Sprintf("link %s is declared twice", l.Name()))
		}
		links[l.Name()] = true
	}
	for _, n := range t.Nodes {
		for _, s := range append(append([]string{}, n.Args...), envValues(n.Env)...) {
			os.Expand(s, func(ref string) string {
				if !links[n.Name+"->"+ref] {
					problems = append(problems, fmt.Sprintf("node %q refers to ${%s} but there is no link %s->%s", n.Name, ref, n.Name, ref))
				}
				return ""
			})
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("topology %q is invalid:\n  %s", t.Name, strings.Join(problems, "\n  "))
	}
	return nil
}

func (t Topology) node(name string) Node {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	return Node{}
}

// Node returns the node called name.
func (t Topology) Node(name string) (Node, bool) {
	n := t.node(name)
	return n, n.Name != ""
}

// LinkPort is the port Toxiproxy listens on for a link (inside the network).
func (t Topology) LinkPort(link string) (int, bool) {
	for i, l := range t.Links {
		if l.Name() == link {
			return firstLinkPort + i, true
		}
	}
	return 0, false
}

// Networks lists the named networks of the topology's nodes, sorted.
func (t Topology) Networks() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range t.Nodes {
		for _, net := range n.Networks {
			if !seen[net] {
				seen[net] = true
				out = append(out, net)
			}
		}
	}
	sort.Strings(out)
	return out
}

// link finds a link by name.
func (t Topology) link(name string) (Link, bool) {
	for _, l := range t.Links {
		if l.Name() == name {
			return l, true
		}
	}
	return Link{}, false
}

// LinkNames lists the links in declaration order.
func (t Topology) LinkNames() []string {
	out := make([]string, len(t.Links))
	for i, l := range t.Links {
		out[i] = l.Name()
	}
	return out
}

// expand resolves ${NAME} in a node's args and env to its links' addresses.
func (t Topology) expand(n Node, s string) string {
	return os.Expand(s, func(ref string) string {
		port, _ := t.LinkPort(n.Name + "->" + ref)
		return fmt.Sprintf("%s:%d", ProxyNode, port)
	})
}

func envValues(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(m))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// proxyName is the Toxiproxy name of a link: '>' would need escaping in its
// API's URLs, so "web->db" is proxied as "web_to_db".
func proxyName(link string) string { return strings.ReplaceAll(link, "->", "_to_") }
