package main

import (
	"context"
	"fmt"
	"time"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/images"
)

func runImages(ctx context.Context, args []string) error {
	fs := flags("images")
	check := fs.Bool("check", false, "only check that the images for the current inputs exist")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *check {
		base, err := images.BaseTag()
		if err != nil {
			return err
		}
		for _, ref := range []string{base, images.Current} {
			ok, err := docker.ImageExists(ctx, ref)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("image %s is missing: run `make images`", ref)
			}
			fmt.Printf("%s present\n", ref)
		}
		return nil
	}
	start := time.Now()
	res, err := images.Build(ctx, images.Options{})
	if err != nil {
		return err
	}
	fmt.Printf("images ready in %s: %s, %s\n", time.Since(start).Round(100*time.Millisecond), res.Base, res.Node)
	return nil
}

// errBroke is returned by run when a guarantee broke: exit 1, not 2.

const usageImages = `scalelab images [--check]

Builds the base image (Debian bookworm with the servers) and the node image (plus
scalelab's binaries), each tagged by a hash of its inputs. With nothing changed it
takes seconds. SCALELAB_IMAGE_PATH=mmdebstrap|dockerfile forces a build path.

Examples:
  scalelab images
  scalelab images --check`
