package stacks

// Substrate is the smallest stack that shows every part of the substrate: the
// sample app and its database, joined by the link web->db, with the client's
// entry point client->web. Its specs check that links, faults and teardown
// work before any stage relies on them.
func Substrate() Topology {
	return Topology{
		Name: "substrate",
		Nodes: []Node{
			{Name: "db", Role: Postgres()},
			{Name: "web", Role: Mysite(), Args: []string{
				"-db", PostgresDSN("${db}"),
			}},
		},
		Links: []Link{{From: Client, To: "web"}, {From: "web", To: "db"}},
	}
}
