package specs

import (
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/stacks"
)

// Stage 3's promise that clients see only the load balancer: the web servers
// (and the database, and the load balancer itself) publish no port on this
// machine. The only published ports are the stack's Toxiproxy's, on
// 127.0.0.1: the entry client->lb, and the links' probe ports that the lab's
// own fault probes use (an instrument of the lab, not a path a user has).
var _ = Describe("Stage 3, the load balancer's stack", Label("stage:load-balancer", "isolation"), func() {
	It("publishes no web server: only Toxiproxy has ports on this machine, on loopback", func(ctx SpecContext) {
		st, err := stage.Get("load-balancer")
		Expect(err).NotTo(HaveOccurred())
		topo := st.Stack(stage.Defaults(st))
		By("booting the stack with its default settings")
		s, err := stacks.Boot(ctx, topo, stacks.WithProgress(func(l string) { GinkgoWriter.Println(l) }))
		DeferCleanup(func(ctx SpecContext) { Expect(s.Terminate(ctx)).To(Succeed()) }, NodeTimeout(90*time.Second))
		Expect(err).NotTo(HaveOccurred())

		for _, node := range append(s.NodeNames(), stacks.ProxyNode) {
			c, err := s.Container(node)
			Expect(err).NotTo(HaveOccurred())
			info, err := c.Inspect(ctx)
			Expect(err).NotTo(HaveOccurred())
			published := 0
			for port, bindings := range info.HostConfig.PortBindings {
				for _, b := range bindings {
					published++
					Expect(b.HostIP.String()).To(Equal("127.0.0.1"), "%s publishes %s on %s", node, port, b.HostIP)
				}
			}
			if info.NetworkSettings != nil {
				for port, bindings := range info.NetworkSettings.Ports {
					published += len(bindings)
					for _, b := range bindings {
						Expect(b.HostIP.String()).To(Equal("127.0.0.1"), "%s publishes %s on %s", node, port, b.HostIP)
					}
				}
			}
			if node == stacks.ProxyNode {
				Expect(published).To(BeNumerically(">", 0), "toxiproxy publishes the entry point")
			} else {
				Expect(published).To(BeZero(), "node %s publishes a port", node)
			}
		}

		By("reaching the load balancer through the entry link, and seeing its view of the pool")
		base, err := s.URL(ctx, st.Entry)
		Expect(err).NotTo(HaveOccurred())
		resp, err := http.Get(base + stacks.HAProxyHealthPath)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		stats, err := stacks.HAProxyStats(ctx, http.DefaultClient, base)
		Expect(err).NotTo(HaveOccurred())
		status := map[string]string{}
		for _, sv := range stats {
			status[sv.Name] = sv.Status
		}
		Expect(status).To(Equal(map[string]string{"web-1": "UP", "web-2": "UP", "web-3": "UP", "web-4": "DOWN"}),
			fmt.Sprintf("web-1..3 serve; web-4 is the standby, down until add-web starts it (stats: %+v)", stats))
	}, SpecTimeout(3*time.Minute))
})
