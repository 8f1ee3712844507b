package main

import (
	"strings"
	"testing"

	"github.com/scalelab/scalelab/internal/docker"
)

func TestDownSummarySaysWhatItLeftAndHowToRemoveIt(t *testing.T) {
	if got := downSummary(docker.Leftovers{}); !strings.HasPrefix(got, "nothing to remove") {
		t.Errorf("empty engine: %q", got)
	}
	removedOnly := docker.Leftovers{Containers: 3, Networks: 1, Groups: []docker.Group{{Removed: true, Containers: 3, Networks: 1}}}
	if got := downSummary(removedOnly); got != "removed 3 containers and 1 network" {
		t.Errorf("removed only: %q", got)
	}
	mixed := docker.Leftovers{Containers: 3, Networks: 1, Groups: []docker.Group{
		{Removed: true, Containers: 3, Networks: 1, Owner: docker.Owner{Run: "a"}},
		{State: docker.OwnerAlive, Containers: 6, Networks: 1, Owner: docker.Owner{Run: "b"}},
		{State: docker.OtherHost, Containers: 2, Owner: docker.Owner{Run: "c"}},
	}}
	want := "removed 3 containers and 1 network; left 8 containers and 1 network of 2 runs (see above): `scalelab down --all` removes them too"
	if got := downSummary(mixed); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
