package stack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/ovnet-dev/ovnet/test/testenv"
)

// ControllerOptions are the flags the stack passes to ovnet-controller.
type ControllerOptions struct {
	PublicPrefixes []string
	// NB, when set, makes the controller write OVN rows there.
	NB string
}

// BuildBinaries builds ovnet's commands into dir (go build, cached by Go).
func BuildBinaries(dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
	}
	return nil
}

// StartController runs bin/ovnet-controller against the stack's API server;
// its log is runDir/controller.log.
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
	d, err := startDaemon("ovnet-controller", filepath.Join(s.RunDir, "controller.log"), nil, filepath.Join(binDir, "ovnet-controller"), args...)
	if err != nil {
		return err
	}
	s.controller = d
	// A controller that fails on its flags exits at once: report that here.
	select {
	case <-d.done:
		log, _ := os.ReadFile(filepath.Join(s.RunDir, "controller.log"))
		return fmt.Errorf("ovnet-controller exited: %s", log)
	case <-time.After(time.Second):
		return nil
	}
}
