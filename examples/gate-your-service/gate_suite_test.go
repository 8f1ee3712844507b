// Package gate_test gates kvservice, a service of its own, with scalelab:
// five specs that CI runs on every change (`go test ./...` here, or
// `make test` in the scalelab checkout).
package gate_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/scalelab/scalelab"
)

func TestGate(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "gate kvservice")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	By("checking that the lab's node image exists")
	Expect(scalelab.CheckImage(ctx)).To(Succeed())
	By("building kvservice as a static Linux binary, to copy into its node")
	var err error
	kvservicePath, err = gexec.BuildWithEnvironment("example.com/gate-your-service/kvservice", []string{"CGO_ENABLED=0", "GOOS=linux"})
	Expect(err).NotTo(HaveOccurred())
	By("registering the stage: refused if a guarantee has no control that breaks it")
	Expect(scalelab.Register(kvStage)).To(Succeed())
}, NodeTimeout(3*time.Minute))

// Every run removes its stack; this is the backstop, also on Ctrl-C.
var _ = AfterSuite(func() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	Expect(scalelab.Cleanup(ctx)).To(Succeed())
	gexec.CleanupBuildArtifacts()
})
