package specs

import (
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

// The matrix spread over machines: each machine runs one shard (scalelab
// matrix --shard i/n), and scalelab merge joins their directories into one
// matrix, as a CI system's job matrix does.
var _ = Describe("The matrix in shards", Label("cli"), func() {
	scalelab := func(args ...string) *gexec.Session {
		s, err := gexec.Start(exec.Command(scalelabBinary(), args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		return s
	}
	cellsOf := func(dir string) report.Matrix {
		data, err := os.ReadFile(filepath.Join(dir, report.CellsFile))
		Expect(err).NotTo(HaveOccurred())
		var m report.Matrix
		Expect(json.Unmarshal(data, &m)).To(Succeed())
		return m
	}

	DescribeTable("refuses a bad --shard in one line, with exit code 2, before running anything",
		func(shard string) {
			dir := filepath.Join(GinkgoT().TempDir(), "m")
			s := scalelab("matrix", "--stages", "single-server", "--shard", shard, "--report", dir)
			Eventually(s).WithTimeout(30 * time.Second).Should(gexec.Exit(2))
			Expect(s.Err).To(gbytes.Say(`--shard "` + shard + `": want i/n`))
			Expect(strings.Count(strings.TrimSpace(string(s.Err.Contents())), "\n")).To(BeZero(), "one line")
			Expect(dir).NotTo(BeADirectory(), "nothing written")
		},
		Entry("shard 0", "0/2"),
		Entry("a shard past the last", "3/2"),
		Entry("not i/n", "x"),
	)

	It("runs every cell of a stage in exactly one of two shards, and merge joins them into one matrix",
		Label("stage:single-server"), func(ctx SpecContext) {
			st, err := stage.Get("single-server")
			Expect(err).NotTo(HaveOccurred())
			want := report.StageCells(st)
			tmp := GinkgoT().TempDir()
			a, b, c := filepath.Join(tmp, "A"), filepath.Join(tmp, "B"), filepath.Join(tmp, "C")

			By("running shard 1/2 with its cells side by side (--parallel 2), then shard 2/2 one at a time (one machine each, in CI)")
			codes := map[string]int{}
			owner := map[string]string{}
			for _, sh := range []struct{ shard, dir, parallel string }{{"1/2", a, "2"}, {"2/2", b, "1"}} {
				start := time.Now()
				s := scalelab("matrix", "--stages", "single-server", "--shard", sh.shard, "--parallel", sh.parallel, "--report", sh.dir)
				Eventually(s).WithTimeout(6 * time.Minute).Should(gexec.Exit())
				GinkgoWriter.Printf("shard %s: exit %d in %s\n", sh.shard, s.ExitCode(), time.Since(start).Round(time.Second))
				Expect(s.ExitCode()).To(BeElementOf(0, 1), "a shard exits 0 or 1 (a cell not as expected), never 2: shard %s", sh.shard)
				Expect(string(s.Out.Contents())).NotTo(ContainSubstring("warning: teardown"), "every stack and its CPU budget removed")
				if sh.parallel == "2" {
					Expect(string(s.Out.Contents())).To(MatchRegexp(`2 runs at a time, each stack capped at [0-9.]+ of the [0-9]+ CPUs`))
					Expect(overlapping(sh.dir, cellsOf(sh.dir))).To(BeTrue(), "with --parallel 2, two of the shard's runs ran at the same time")
				}
				codes[sh.shard] = s.ExitCode()
				m := cellsOf(sh.dir)
				Expect(m.Shard).To(Equal(sh.shard))
				Expect(m.Stages).To(Equal([]string{"single-server"}))
				Expect(m.Cells).NotTo(BeEmpty(), "each of two shards of %d cells gets some", len(want))
				for _, cell := range m.Cells {
					Expect(owner).NotTo(HaveKey(cell.Name), "%s is in two shards", cell.Name)
					owner[cell.Name] = sh.shard
					Expect(cell.Missing).To(BeEmpty(), "%s: the shard ran to its end", cell.Name)
					Expect(cell.Err).To(BeEmpty(), "%s: no setup failure", cell.Name)
					Expect(filepath.Join(sh.dir, cell.ReportJSON)).To(BeAnExistingFile())
				}
			}
			for _, cell := range want {
				Expect(owner).To(HaveKey(cell.Name), "%s is in no shard", cell.Name)
			}
			Expect(owner).To(HaveLen(len(want)))

			By("merging the two shards' directories")
			s := scalelab("merge", "--out", c, a, b)
			Eventually(s).WithTimeout(time.Minute).Should(gexec.Exit())
			wantCode := max(codes["1/2"], codes["2/2"])
			Expect(s.ExitCode()).To(Equal(wantCode), "merge exits 0 only if both shards' cells are as expected")

			index, err := os.ReadFile(filepath.Join(c, "index.html"))
			Expect(err).NotTo(HaveOccurred())
			md, err := os.ReadFile(filepath.Join(c, "matrix.md"))
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Count(string(index), `<div class="stage-id">kill-server</div>`)).To(Equal(1), "one kill-server row")
			Expect(strings.Count(string(md), "| kill-server |")).To(Equal(1), "one kill-server row in matrix.md")
			for _, cell := range want {
				href := "runs/" + cell.Name + "/report.html"
				Expect(string(index)).To(ContainSubstring(`href="`+href+`"`), "index.html links %s", cell.Name)
				Expect(strings.Count(string(md), "("+href+")")).To(Equal(1), "matrix.md lists %s once", cell.Name)
				Expect(filepath.Join(c, href)).To(BeAnExistingFile(), "the link to %s works", cell.Name)
				if cell.Control != "" {
					Expect(strings.Count(string(index), `<div class="control-of">`+html.EscapeString(cell.Control)+`</div>`)).To(Equal(1),
						"index.html lists control %q once", cell.Control)
				}
			}
			Expect(string(md)).NotTo(ContainSubstring("missing"))
			merged := cellsOf(c)
			Expect(merged.Cells).To(HaveLen(len(want)))

			By("merging shard 1/2 alone: shard 2/2's cells are missing, exit 1")
			d := filepath.Join(tmp, "D")
			s = scalelab("merge", "--out", d, a)
			Eventually(s).WithTimeout(time.Minute).Should(gexec.Exit(1))
			Expect(s.Err).To(gbytes.Say(`shard 2/2 is not among the directories`))
			md, err = os.ReadFile(filepath.Join(d, "matrix.md"))
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Count(string(md), "missing ✗")).To(Equal(len(want)-len(cellsOf(a).Cells)), "every cell of shard 2/2 shows as missing")

			By("refusing a merge with no directories, exit 2")
			s = scalelab("merge", "--out", filepath.Join(tmp, "E"))
			Eventually(s).WithTimeout(30 * time.Second).Should(gexec.Exit(2))
		}, SpecTimeout(14*time.Minute))
})

// overlapping tells whether two of the matrix's runs overlapped in time, from
// each report's start and the sum of its phases.
func overlapping(dir string, m report.Matrix) bool {
	type span struct{ from, to time.Time }
	var spans []span
	for _, c := range m.Cells {
		data, err := os.ReadFile(filepath.Join(dir, c.ReportJSON))
		Expect(err).NotTo(HaveOccurred())
		var r report.Report
		Expect(json.Unmarshal(data, &r)).To(Succeed())
		from, err := time.Parse(time.RFC3339Nano, r.Started)
		Expect(err).NotTo(HaveOccurred(), "report %s: started %q", c.Name, r.Started)
		total := 0.0
		for _, s := range r.PhasesS {
			total += s
		}
		spans = append(spans, span{from, from.Add(time.Duration(total * float64(time.Second)))})
	}
	for i := range spans {
		for j := i + 1; j < len(spans); j++ {
			if spans[i].from.Before(spans[j].to) && spans[j].from.Before(spans[i].to) {
				return true
			}
		}
	}
	return false
}
