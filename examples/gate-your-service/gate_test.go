package gate_test

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/scalelab/scalelab"
)

// run runs one fault or control of the kv stage, narrating to the spec's
// output, and keeps its report.json and report.html under results/.
func run(ctx SpecContext, fault, control string) *scalelab.Result {
	res, err := scalelab.Run(ctx, scalelab.Spec{
		Stage: "kv", Fault: fault, Control: control,
		Results:  "results",
		Progress: func(l string) { GinkgoWriter.Println(l) },
	})
	Expect(err).NotTo(HaveOccurred())
	name := fault
	if control != "" {
		name += " (" + control + ")"
	}
	Expect(scalelab.WriteReport(filepath.Join("results", name), res)).To(Succeed())
	return res
}

var _ = Describe("kvservice", func() {
	It("keeps serving while its database link is 200 ms slower", func(ctx SpecContext) {
		Expect(run(ctx, "db-latency", "")).To(scalelab.HoldEveryGuarantee())
	}, SpecTimeout(3*time.Minute))

	It("recovers from a killed api server, and no acknowledged write is lost", func(ctx SpecContext) {
		Expect(run(ctx, "kill-api", "")).To(scalelab.HoldEveryGuarantee())
	}, SpecTimeout(3*time.Minute))

	// The negative controls: each takes one defence away, and the guarantee
	// it names must break. A check that cannot fail would pass anything.
	DescribeTable("sees a guarantee break without its defence (the negative controls)",
		func(ctx SpecContext, fault, control, breaks string) {
			Expect(run(ctx, fault, control)).To(scalelab.Break(breaks))
		},
		Entry("loses acknowledged writes when it acknowledges before storing",
			"kill-api", "acknowledged before stored", scalelab.NoLostWrites, SpecTimeout(3*time.Minute)),
		Entry("fails requests when the database is slower than its timeout",
			"db-latency", "latency above the database timeout", scalelab.AvailableHigh, SpecTimeout(3*time.Minute)),
		Entry("breaks the recovery bound when the restart comes late",
			"kill-api", "recovery slower than the bound", scalelab.Recovers, SpecTimeout(3*time.Minute)),
	)
})
