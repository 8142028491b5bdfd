// Command coredns is CoreDNS with only the plugins the real node of the end-to-end tests
// needs (tests/e2e/node.py): cluster DNS for Services and pods from the API server, so that
// executors reach their driver's headless Service. Built by build.sh --node, the way CoreDNS
// documents builds with a chosen plugin set.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	// In the order of CoreDNS's plugin.cfg.
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "log", "kubernetes"}
}

func main() {
	coremain.Run()
}
