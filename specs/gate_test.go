package specs

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/scalelab/scalelab/internal/report"
)

// The matrix as a CI gate: JUnit XML for the CI system's test view, and a
// comparison with the last green matrix that fails the job when a change
// made things worse, even where every guarantee still holds.
var _ = Describe("The matrix as a resilience gate in CI", Label("cli", "gate"), func() {
	scalelab := func(args ...string) *gexec.Session {
		s, err := gexec.Start(exec.Command(scalelabBinary(), args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		return s
	}

	// The worsened setting is stage 3's naive load balancer without its
	// longest health-check interval (2 s would make stays-available's floor
	// vacuous, and is refused): round robin, no retries, checks every 1 s.
	// A third of the requests then go to the killed web-1 until two checks
	// failed (about 2-4 s of the 5 s fault), and they fail; with the
	// defaults (leastconn, retries, 500 ms checks) about none do. Either
	// availability during the fault drops by more than the tolerance's 5
	// points, or a guarantee breaks: both are regressions.
	worse := []string{"--set", "balance=roundrobin", "--set", "retries=off", "--set", "check_interval=1s"}

	It("writes JUnit XML, and flags a deliberately worsened setting against the baseline with exit code 1",
		Label("stage:load-balancer"), func(ctx SpecContext) {
			tmp := GinkgoT().TempDir()
			base, now := filepath.Join(tmp, "base"), filepath.Join(tmp, "now")
			cell := report.CellName("load-balancer", "kill-web", "")

			By("running the baseline: kill-web at the stage's defaults, with JUnit XML")
			junit := filepath.Join(tmp, "junit.xml")
			s := scalelab("matrix", "--stages", "load-balancer", "--faults", "kill-web", "--controls=false",
				"--parallel", "1", "--report", base, "--junit", junit)
			Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(0))
			data, err := os.ReadFile(junit)
			Expect(err).NotTo(HaveOccurred())
			var suites struct {
				Tests  int `xml:"tests,attr"`
				Suites []struct {
					Cases []struct {
						Name    string    `xml:"name,attr"`
						Failure *struct{} `xml:"failure"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			Expect(xml.Unmarshal(data, &suites)).To(Succeed())
			Expect(suites.Tests).To(Equal(1), "one test case: the one cell selected")
			Expect(suites.Suites).To(HaveLen(1))
			Expect(suites.Suites[0].Cases).To(HaveLen(1))
			Expect(suites.Suites[0].Cases[0].Name).To(ContainSubstring("kill-web"))
			Expect(suites.Suites[0].Cases[0].Failure).To(BeNil(), "the cell held: no failure")

			By("running it again with a worse load balancer, against the baseline")
			args := append([]string{"matrix", "--stages", "load-balancer", "--faults", "kill-web", "--controls=false",
				"--parallel", "1", "--report", now, "--baseline", base}, worse...)
			s = scalelab(args...)
			Eventually(s).WithTimeout(3*time.Minute).Should(gexec.Exit(1), "a regression fails the gate")
			Expect(s.Out).To(gbytes.Say(`Settings: the baseline ran with the defaults, this matrix with balance=roundrobin check\\?_interval=1s retries=off`), "markdown escapes the underscore")
			Expect(s.Out).To(gbytes.Say(`\*\*regression\*\* \| ` + cell + ` \|`))

			By("keeping the comparison in cells.json for the next job")
			m := cellsOf(now)
			Expect(m.Baseline).NotTo(BeNil())
			Expect(m.Baseline.Regressions()).To(BeNumerically(">=", 1))
			Expect(m.Baseline.Compared).To(Equal(1))

			By("and scalelab diff reading the two directories says the same, exit 1")
			s = scalelab("diff", base, now)
			Eventually(s).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
			Expect(s.Out).To(gbytes.Say(`\*\*regression\*\* \| ` + cell + ` \|`))
		}, SpecTimeout(7*time.Minute))
})
