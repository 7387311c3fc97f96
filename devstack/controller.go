package devstack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ControllerOptions are the flags the stack passes to ovnet-controller.
type ControllerOptions struct {
	PublicPrefixes []string
	// NB, when set, makes the controller write OVN rows there.
	NB string
	// SB, when set, is read for load balancers' health checks.
	SB string
}

// BuildBinaries builds ovnet's commands into dir (go build, cached by Go).
func BuildBinaries(dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
	}
	return nil
}

// StartController runs bin/ovnet-controller against the stack's API server;
// its log is RunDir/controller.log.
func (s *Stack) StartController(binDir string, opts ControllerOptions) error {
	args := []string{
		"--kubeconfig", filepath.Join(s.RunDir, "kubeconfig"),
		"--metrics-bind-address", "127.0.0.1:0",
		"--health-probe-bind-address", "127.0.0.1:0",
	}
	for _, p := range opts.PublicPrefixes {
		args = append(args, "--public-prefix", p)
	}
	if opts.NB != "" {
		args = append(args, "--ovn-nb", opts.NB)
	}
	if opts.SB != "" {
		args = append(args, "--ovn-sb", opts.SB)
	}
	// The transit prefixes the external host's addresses are on.
	p := s.Provider
	args = append(args, "--provider-network", p.PhysicalNetwork, "--transit-prefix", p.TransitPrefix.String(), "--provider-next-hop", p.NextHop.String())
	if p.IPv6() {
		args = append(args, "--transit-prefix-v6", p.TransitPrefix6.String(), "--provider-next-hop-v6", p.NextHop6.String())
	}
	return s.startBinary(filepath.Join(binDir, "ovnet-controller"), filepath.Join(s.RunDir, "controller.log"), args...)
}

// StartAgents runs one bin/ovnet-agent per chassis, in veth mode, with the
// chassis's namespace for the veth pairs; every node offers gateways. The
// logs are RunDir/agent-<node>.log.
func (s *Stack) StartAgents(binDir string) error {
	for _, ch := range s.Chassis {
		err := s.startBinary(filepath.Join(binDir, "ovnet-agent"), filepath.Join(s.RunDir, "agent-"+ch.Name+".log"),
			"--kubeconfig", filepath.Join(s.RunDir, "kubeconfig"),
			"--node-name", ch.Name, "--gateway",
			"--ovs-db", ch.Endpoint(), "--netns", ch.NetNS,
			"--metrics-bind-address", "0", "--health-probe-bind-address", "")
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) startBinary(bin, logFile string, args ...string) error {
	d, err := startDaemon(filepath.Base(bin), logFile, nil, bin, args...)
	if err != nil {
		return err
	}
	s.daemons = append(s.daemons, d)
	// A binary that fails on its flags exits at once: report that here.
	select {
	case <-d.done:
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("%s exited: %s", filepath.Base(bin), log)
	case <-time.After(time.Second):
		return nil
	}
}
