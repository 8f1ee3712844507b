package stacks

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// GeoZone is a site's name served by region: PowerDNS's authoritative
// server with LUA records (stage 8, several data centers). The server, not
// the client, decides the region: by the EDNS Client Subnet the asker sends
// (RFC 7871, what a public resolver passes on for its users). It answers
// with the entry of the asker's region (Toxiproxy's address on that region's
// network, EntryHost: where the region's site links listen), and withdraws
// an entry whose health check fails (ifurlup: GET Path on the entry, every
// CheckInterval), answering the next region of the asker's preference list.
//
// Why PowerDNS: geo and health are one record of the server itself (bind9's
// views split by client, but withdrawing a dead data center needs a health
// checker of our own rewriting zones; CoreDNS would be built from source).
type GeoZone struct {
	Name string // the site's name, "www.mysite.test"
	// Regions in the order answers fall back to (after the asker's own).
	Regions []GeoRegion
	// TTL is the answer's time to live: how long a client may use it.
	TTL time.Duration
	// CheckInterval is how often each entry is checked; CheckTimeout how
	// long one check may take. Both whole seconds (PowerDNS's units).
	CheckInterval, CheckTimeout time.Duration
	// Path is the health check's HTTP path on the site's port 80.
	Path string
	// Geo off answers every asker as the first region's (a site without
	// geo routing: the control of the split).
	Geo bool
	// Health off answers the first entry of the asker's preference list
	// whether it serves or not (no health checks: the control of moving
	// away from a dead data center).
	Health bool
}

// GeoRegion is a region: the network of its data center (its entry is
// EntryHost(Net)) and the subnet its clients' addresses are in.
type GeoRegion struct {
	Net    string
	Subnet netip.Prefix
}

// GeoPort is the site's port: where the region entries listen, what the
// health checks probe.
const GeoPort = 80

// pdnsLog is the DNS server's log inside its node (also its output).
const pdnsLog = "/tmp/pdns.log"

// DNSPort is where the DNS server answers, over UDP and TCP.
const DNSPort = 53

// Order is the list of regions an asker of region r is answered from, in
// preference order: its own first (with Geo), then the others as declared.
func (z GeoZone) Order(r int) []string {
	var out []string
	if z.Geo {
		out = append(out, z.Regions[r].Net)
	}
	for _, g := range z.Regions {
		if !z.Geo || g.Net != z.Regions[r].Net {
			out = append(out, g.Net)
		}
	}
	return out
}

// Validate names what would make the zone wrong.
func (z GeoZone) Validate() error {
	var problems []string
	if len(z.Regions) == 0 {
		problems = append(problems, "no regions")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"check interval", z.CheckInterval}, {"check timeout", z.CheckTimeout}} {
		if d.v < time.Second || d.v%time.Second != 0 {
			problems = append(problems, fmt.Sprintf("%s %v: PowerDNS counts whole seconds, at least 1", d.name, d.v))
		}
	}
	if z.TTL < time.Second || z.TTL%time.Second != 0 {
		problems = append(problems, fmt.Sprintf("TTL %v: whole seconds, at least 1", z.TTL))
	}
	for i, r := range z.Regions {
		if !r.Subnet.IsValid() || !r.Subnet.Addr().Is4() {
			problems = append(problems, fmt.Sprintf("region %s: subnet %v is not an IPv4 prefix", r.Net, r.Subnet))
		}
		for _, o := range z.Regions[:i] {
			if o.Subnet.Overlaps(r.Subnet) {
				problems = append(problems, fmt.Sprintf("regions %s and %s: subnets overlap", o.Net, r.Net))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("geo zone %s: %s", z.Name, strings.Join(problems, "; "))
	}
	return nil
}

// GeoDNS is the DNS server's node: on every region's network (its health
// checks reach each entry there), answering on DNSPort. Its zone holds
// placeholders for the entries' addresses, which its start script fills in
// from Docker's DNS (the addresses exist only once Toxiproxy is attached).
func GeoDNS(name string, z GeoZone) Node {
	var nets []string
	for _, r := range z.Regions {
		nets = append(nets, r.Net)
	}
	const dir = "/etc/scalelab/pdns"
	files := map[string]string{
		dir + "/pdns.conf": fmt.Sprintf(`# PowerDNS authoritative server of scalelab's geo zone (stacks.GeoDNS)
launch=bind
bind-config=%[1]s/named.conf
local-address=0.0.0.0
local-port=%[2]d
enable-lua-records=yes
# Answer by the EDNS Client Subnet the asker sends (LUA's netmask() then
# judges that subnet, not the asker's own address).
edns-subnet-processing=yes
lua-health-checks-interval=%[3]d
# No caches: an answer changes the moment a health check does.
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
# Every lookup is a TCP connection of its own through Toxiproxy (a client
# without a DNS cache asks for each request: 100 a second); the default
# limit, 20 at once, refused most of them ("Limit of simultaneous TCP
# connections reached", 2026-12-05).
max-tcp-connections=512
socket-dir=/tmp
daemon=no
guardian=no
disable-syslog=yes
# No security status queries: nothing outside the stack is reachable.
security-poll-suffix=
log-timestamp=yes
# 6 logs each health check's verdict (declaring UP / DOWN).
loglevel=6
`, dir, DNSPort, int(z.CheckInterval/time.Second)),
		dir + "/named.conf":  fmt.Sprintf("zone \"%s\" { type master; file \"/tmp/geo.zone\"; };\n", zoneOf(z.Name)),
		dir + "/geo.zone.in": geoZoneFile(z),
	}
	// The readiness probe: a client of each region is answered with the
	// first entry of its preference list, and every entry's last health
	// check said UP (in PowerDNS's log: until an entry's first check, and
	// while all of a list's entries are down, an answer is picked at
	// random, which a probe of the answers alone could take for the right
	// one). The questions come first: PowerDNS starts checking an entry
	// when a question first needs it.
	var probe []string
	for i, r := range z.Regions {
		probe = append(probe, fmt.Sprintf(`[ "$(dig +tcp +short +time=1 +tries=1 +subnet=%s @127.0.0.1 %s A)" = "$(getent hosts %s | cut -d' ' -f1)" ]`,
			r.Subnet, z.Name, EntryHost(z.Order(i)[0])))
	}
	if z.Health {
		for _, h := range entryHosts(z) {
			probe = append(probe, fmt.Sprintf(`ip=$(getent hosts %s | cut -d' ' -f1) && grep -E "declaring $ip (UP|DOWN) " %s | tail -n1 | grep -q "declaring $ip UP "`, h, pdnsLog))
		}
	}
	var fill []string
	for _, r := range z.Regions {
		fill = append(fill, fmt.Sprintf(`-e "s/@%[1]s@/$(getent hosts %[1]s | cut -d' ' -f1)/g"`, EntryHost(r.Net)))
	}
	return Node{
		Name: name,
		Role: Role{
			Kind: "powerdns",
			Cmd: []string{"bash", "-c", fmt.Sprintf(`set -e
# Each region's entry is Toxiproxy's address on that region's network.
for h in %s; do getent hosts "$h" >/dev/null || { echo "no address for $h" >&2; exit 1; }; done
sed %s %s/geo.zone.in > /tmp/geo.zone
# The log goes to the container's output and to a file the readiness probe reads.
exec pdns_server --config-dir=%s > >(tee %s) 2>&1`, strings.Join(entryHosts(z), " "), strings.Join(fill, " "), dir, dir, pdnsLog)},
			Port:  DNSPort,
			Ready: []string{"sh", "-c", strings.Join(probe, " && ")},
		},
		Files:    files,
		Networks: nets,
		// A health check made while an entry's web servers were starting
		// may have declared it down after the probe passed.
		RecheckReady: z.Health,
	}
}

func entryHosts(z GeoZone) []string {
	var out []string
	for _, r := range z.Regions {
		out = append(out, EntryHost(r.Net))
	}
	return out
}

// zoneOf is the zone a name is in: the name without its first label.
func zoneOf(name string) string {
	if _, rest, ok := strings.Cut(name, "."); ok {
		return rest
	}
	return name
}

// geoZoneFile is the zone, in the bind backend's format: one LUA record for
// the site's name, an if/elseif over the regions' subnets, each branch an
// ifurlup over the region's preference list (a list of lists: the first
// list with an entry up answers).
func geoZoneFile(z GeoZone) string {
	list := func(order []string) string {
		var sets []string
		for _, net := range order {
			sets = append(sets, fmt.Sprintf("{'@%s@'}", EntryHost(net)))
		}
		return "{" + strings.Join(sets, ",") + "}"
	}
	check := func(order []string) string {
		if !z.Health {
			return fmt.Sprintf("'@%s@'", EntryHost(order[0]))
		}
		return fmt.Sprintf("ifurlup('http://%s%s', %s, {timeout=%d})", z.Name, z.Path, list(order), int(z.CheckTimeout/time.Second))
	}
	var lua strings.Builder
	lua.WriteString(";")
	for i, r := range z.Regions {
		kw := "elseif"
		if i == 0 {
			kw = "if"
		}
		fmt.Fprintf(&lua, "%s netmask({'%s'}) then return %s ", kw, r.Subnet, check(z.Order(i)))
	}
	// An asker of no region: the declared order.
	var all []string
	for _, r := range z.Regions {
		all = append(all, r.Net)
	}
	fmt.Fprintf(&lua, "else return %s end", check(all))
	zone := zoneOf(z.Name)
	ttl := int(z.TTL / time.Second)
	// Whole names and a TTL on every record: no $ directives, which a
	// node's files would take for link references (Topology.expand).
	return fmt.Sprintf(`%[1]s. %[2]d IN SOA ns.%[1]s. hostmaster.%[1]s. 1 3600 600 86400 %[2]d
%[1]s. %[2]d IN NS ns.%[1]s.
ns.%[1]s. %[2]d IN A 127.0.0.1
%[3]s. %[2]d IN LUA A "%[4]s"
`, zone, ttl, z.Name, lua.String())
}
