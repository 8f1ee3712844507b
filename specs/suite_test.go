// Package specs holds scalelab's Ginkgo specs: each boots a real stack in
// containers, breaks it, and checks what clients see.
//
// Run them with `make test`, `go test ./specs`, or `go tool ginkgo ./specs`;
// select with labels, e.g. --label-filter='substrate && fault:kill'.
package specs

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/images"
)

func TestSpecs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "scalelab specs")
}

// The checks and the build run once, on the first process; every process
// (ginkgo --procs) gets the built command's path.
var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	By("checking that a Docker engine answers and the node image exists")
	_, err := docker.Client(ctx)
	Expect(err).NotTo(HaveOccurred())
	ok, err := docker.ImageExists(ctx, images.Current)
	Expect(err).NotTo(HaveOccurred())
	if !ok {
		AbortSuite("image " + images.Current + " is missing: run `make images` first")
	}
	By("building the scalelab command for the CLI specs")
	bin, err := gexec.Build("github.com/scalelab/scalelab/cmd/scalelab")
	Expect(err).NotTo(HaveOccurred())
	return []byte(bin)
}, func(bin []byte) {
	binPath = string(bin)
	GinkgoWriter.Printf("run %s\n", docker.RunID())
}, NodeTimeout(3*time.Minute))

// A stage's spec leaves its stack's removal to the background
// (engine.Spec.OverlapTeardown), where it overlaps the next stage spec's
// boot; the engine waits for it before that run measures anything. Every
// other spec measures or counts on its own and waits for it first.
var _ = BeforeEach(func(ctx SpecContext) {
	if h := CurrentSpecReport().ContainerHierarchyTexts; len(h) > 0 && h[0] == stagesContainer {
		return
	}
	Expect(engine.WaitTeardowns(ctx)).To(Succeed(), "the teardown of an earlier stage spec's stack")
}, NodeTimeout(3*time.Minute))

// Every stack is terminated by the spec that booted it (in the background
// for a stage's: waited for here); this is the backstop for anything a spec
// could not remove (it runs on Ctrl-C too), on every process; the first
// removes the built command once all are done.
var _ = SynchronizedAfterSuite(func() {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	Expect(engine.WaitTeardowns(ctx)).To(Succeed(), "the teardown of the last stage specs' stacks")
	Expect(docker.ReapRun(ctx, docker.RunID())).To(Succeed())
}, func() {
	gexec.CleanupBuildArtifacts() // the scalelab binary the CLI specs ran
})
