// Command ovnet-dev runs the local ovnet stack for developers and users who
// want to try ovnet on one machine (make run, make stop).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ovnet-dev/ovnet/test/stack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

const usage = `usage:
  ovnet-dev up   [--run-dir DIR] [--samples DIR]   bring the local stack up, until Ctrl-C
  ovnet-dev stop [--run-dir DIR]                   stop a stack left running
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	runDir := fs.String("run-dir", ".run", "directory for the stack's databases, sockets, logs and env.sh")
	samples := fs.String("samples", "", "directory of manifests to apply once the stack is up")
	binDir := fs.String("bin-dir", "bin", "directory holding ovnet-controller")
	var prefixes listFlag
	fs.Var(&prefixes, "public-prefix", "public IP pool for ovnet-controller (repeatable; default 10.0.0.0/24, which holds the examples' addresses)")
	_ = fs.Parse(os.Args[2:])
	abs, err := filepath.Abs(*runDir)
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "up":
		if len(prefixes) == 0 {
			prefixes = listFlag{"10.0.0.0/24"}
		}
		err = up(abs, *samples, *binDir, prefixes)
	case "stop":
		err = stop(abs)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ovnet-dev:", err)
	os.Exit(1)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func up(runDir, samples, binDir string, prefixes []string) error {
	pidFile := filepath.Join(runDir, "ovnet-dev.pid")
	if pid, err := readPid(pidFile); err == nil && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("a stack is already running in %s (pid %d): make stop", runDir, pid)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	fmt.Println("ovnet-dev: starting kube-apiserver + etcd with the ovnet CRDs, and OVN central (NB, SB, northd)")
	s, err := stack.Up(runDir)
	if err != nil {
		return err
	}
	defer s.Down()
	fmt.Println("ovnet-dev: starting ovnet-controller with public prefixes", prefixes)
	if err := s.StartController(binDir, stack.ControllerOptions{PublicPrefixes: prefixes, NB: s.Central.NBEndpoint()}); err != nil {
		return err
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer os.Remove(pidFile)
	if samples != "" {
		out, err := exec.Command(filepath.Join(testenv.Assets(), "kubectl"), "--kubeconfig", filepath.Join(runDir, "kubeconfig"), "apply", "-f", samples).CombinedOutput()
		fmt.Print(string(out))
		if err != nil {
			return fmt.Errorf("apply %s: %w", samples, err)
		}
	}
	fmt.Printf(`
The local stack is up. In another shell:

  source %[1]s/env.sh
  kubectl get apinet -A            # the ironcore-net objects
  kubectl get ipaddr,networkids     # the locks on public IPs and network IDs
  ovn-nbctl show                   # the OVN northbound database

ovnet-controller (log: %[1]s/controller.log) allocates public IPs and network
IDs, handles public-IP claims, and writes Networks and NetworkInterfaces into
the OVN NB database. Not running yet: chassis (ovs-vswitchd, ovn-controller)
and ovnet-agent, so no interface is plugged and no packet flows; the example
NetworkInterface waits for its Node "my-node", which no agent registers yet
(see README.md).

Ctrl-C (or make stop) tears everything down.
`, runDir)
	<-ctx.Done()
	fmt.Println("\novnet-dev: stopping")
	return nil
}

func stop(runDir string) error {
	pid, err := readPid(filepath.Join(runDir, "ovnet-dev.pid"))
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("ovnet-dev: no stack running in", runDir)
		return nil
	}
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	fmt.Println("ovnet-dev: asked the stack (pid", pid, ") to stop")
	return nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
