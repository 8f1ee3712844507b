package stacks

import (
	"strings"
	"testing"
)

func TestValidateNamesEveryProblem(t *testing.T) {
	topo := Topology{
		Name: "Bad Name",
		Nodes: []Node{
			{Name: "web", Role: Mysite(), Args: []string{"-db", "${db}", "-cache", "${cache}"}},
			{Name: "web", Role: Mysite()},
			{Name: "toxiproxy", Role: Postgres()},
			{Name: "norole"},
		},
		Links: []Link{{From: "web", To: "db"}, {From: Client, To: "web"}, {From: Client, To: "web"}},
	}
	err := topo.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{`stack name "Bad Name"`, `node "web" is declared twice`, `"toxiproxy" is reserved`,
		`node "norole" has no role`, `link web->db: no node "db"`, `link client->web is declared twice`,
		`refers to ${cache} but there is no link web->cache`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSubstrateIsValidAndExpandsLinks(t *testing.T) {
	topo := Substrate()
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	web, _ := topo.Node("web")
	got := topo.expand(web, web.Args[1])
	if want := "postgres://postgres@toxiproxy:20001/postgres?sslmode=disable"; got != want {
		t.Errorf("expand: got %q want %q", got, want)
	}
	if p, ok := topo.LinkPort("client->web"); !ok || p != 20000 {
		t.Errorf("LinkPort(client->web) = %d %v", p, ok)
	}
}

func TestParseLink(t *testing.T) {
	if l, err := ParseLink("web-1->db"); err != nil || l.From != "web-1" || l.To != "db" {
		t.Errorf("ParseLink: %v %v", l, err)
	}
	for _, bad := range []string{"web", "->db", "web->", ""} {
		if _, err := ParseLink(bad); err == nil {
			t.Errorf("ParseLink(%q): want an error", bad)
		}
	}
	if got := proxyName("web-1->db"); got != "web-1_to_db" {
		t.Errorf("proxyName: %q", got)
	}
}

func TestShellJoinQuotes(t *testing.T) {
	if got := shellJoin([]string{"a b", "it's", "x=*"}); got != `'a b' 'it'\''s' 'x=*'` {
		t.Errorf("shellJoin: %s", got)
	}
}

func TestPostgresDSN(t *testing.T) {
	for _, c := range []struct {
		host   string
		params []string
		want   string
	}{
		{"${db}", nil, "postgres://postgres@${db}/postgres?sslmode=disable"},
		{"127.0.0.1:5432", nil, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{"${a},${b}", []string{"target_session_attrs=read-write"}, "postgres://postgres@${a},${b}/postgres?sslmode=disable&target_session_attrs=read-write"},
	} {
		if got := PostgresDSN(c.host, c.params...); got != c.want {
			t.Errorf("PostgresDSN(%q, %q) = %q, want %q", c.host, c.params, got, c.want)
		}
	}
}
