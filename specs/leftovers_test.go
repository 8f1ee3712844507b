package specs

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/internal/docker"
)

// labelled lists the containers, networks and volumes that carry every one
// of the given labels (each "key=value"; Docker ANDs label filters), as
// "container NAME" / "network NAME" / "volume NAME", to say what was left
// behind.
func labelled(ctx context.Context, labels ...string) ([]string, error) {
	c, err := docker.Client(ctx)
	if err != nil {
		return nil, err
	}
	f := make(client.Filters).Add("label", labels...)
	ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers labelled %v: %w", labels, err)
	}
	nets, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks labelled %v: %w", labels, err)
	}
	vols, err := c.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes labelled %v: %w", labels, err)
	}
	var out []string
	for _, v := range vols.Items {
		out = append(out, "volume "+v.Name)
	}
	for _, ct := range ctrs.Items {
		name := ct.ID[:12]
		if len(ct.Names) > 0 {
			name = ct.Names[0]
		}
		out = append(out, "container "+name+" ("+string(ct.State)+")")
	}
	for _, n := range nets.Items {
		out = append(out, "network "+n.Name)
	}
	return out, nil
}
