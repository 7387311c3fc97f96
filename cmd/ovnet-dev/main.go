// Command ovnet-dev runs the local ovnet stack for developers and users who
// want to try ovnet on one machine (make run, make stop), and puts "VMs"
// (network namespaces) behind its NetworkInterfaces.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
	"github.com/ovnet-dev/ovnet/devstack"
)

const usage = `usage:
  ovnet-dev up   [--run-dir DIR] [--samples DIR] [--nodes a,b,c] [--public-prefix P]
                                        bring the local stack up, until Ctrl-C
  ovnet-dev stop [--run-dir DIR]        stop a stack left running
  ovnet-dev vm attach [--run-dir DIR] [--dhcp] NAMESPACE/NIC
                                        put a VM (network namespace) behind a NetworkInterface;
                                        --dhcp: the VM configures itself with DHCP clients
  ovnet-dev vm detach [--run-dir DIR] NAMESPACE/NIC
                                        remove it
  ovnet-dev exec [--run-dir DIR] NODE|external -- COMMAND...
                                        run a command in a chassis's (or the external
                                        host's) network namespace, as docker exec does
                                        on a kind node (the e2e suite's -node-exec)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	if cmd == "vm" && len(args) > 0 {
		cmd, args = "vm "+args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	runDir := fs.String("run-dir", ".run", "directory for the stack's databases, sockets, logs, env.sh and stack.json")
	samples := fs.String("samples", "", "directory of manifests to apply once the stack is up")
	binDir := fs.String("bin-dir", "bin", "directory holding ovnet-controller and ovnet-agent")
	nodes := fs.String("nodes", "my-node,node-2,node-3", "the chassis (one Node and ovnet-agent each); my-node is the examples' node")
	dhcp := fs.Bool("dhcp", false, "vm attach: the VM runs only DHCP clients (busybox udhcpc, dhclient -6) and takes its addresses and routes from OVN's answers and router advertisements")
	var prefixes listFlag
	fs.Var(&prefixes, "public-prefix", "public IP pool for ovnet-controller (repeatable; default 10.0.0.0/24, which holds the examples' addresses, and 2001:db8:113::/64)")
	_ = fs.Parse(args)
	abs, err := filepath.Abs(*runDir)
	if err != nil {
		fail(err)
	}
	switch cmd {
	case "up":
		if len(prefixes) == 0 {
			prefixes = listFlag{"10.0.0.0/24", "2001:db8:113::/64"}
		}
		err = up(abs, *samples, *binDir, strings.Split(*nodes, ","), prefixes)
	case "stop":
		err = stop(abs)
	case "vm attach", "vm detach":
		if fs.NArg() != 1 {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		err = vm(abs, cmd == "vm attach", *dhcp, fs.Arg(0))
	case "exec":
		if fs.NArg() < 2 {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		command := fs.Args()[1:]
		if command[0] == "--" {
			command = command[1:]
		}
		err = execIn(abs, fs.Arg(0), command)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

// execIn replaces this process with command in the network namespace of
// a chassis or the external host. nsenter enters the network namespace
// only (ip netns exec would also unshare the mounts, and a namespace
// added by the command, ip netns add, would not be seen outside it).
func execIn(runDir, where string, command []string) error {
	layout, err := devstack.ReadLayout(runDir)
	if err != nil {
		return err
	}
	netns := layout.Chassis[where]
	if where == "external" {
		netns = layout.External
	}
	if netns == "" {
		return fmt.Errorf("%q is neither a node of the stack nor external", where)
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return err
	}
	return syscall.Exec(nsenter, append([]string{"nsenter", "--net=/run/netns/" + netns, "--"}, command...), os.Environ())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ovnet-dev:", err)
	os.Exit(1)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func up(runDir, samples, binDir string, nodes, prefixes []string) error {
	pidFile := filepath.Join(runDir, "ovnet-dev.pid")
	if pid, err := readPid(pidFile); err == nil && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("a stack is already running in %s (pid %d): make stop", runDir, pid)
	}
	provider := devstack.TestProvider()
	provider.PublicPrefixes = nil
	for _, p := range prefixes {
		pp, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("--public-prefix %q: %w", p, err)
		}
		provider.PublicPrefixes = append(provider.PublicPrefixes, pp)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	fmt.Printf("ovnet-dev: starting kube-apiserver + etcd with the ovnet CRDs, OVN central, and chassis %s\n", strings.Join(nodes, ", "))
	s, err := devstack.Up(devstack.Options{RunDir: runDir, Nodes: nodes, Provider: provider})
	if err != nil {
		return err
	}
	defer s.Down()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer os.Remove(pidFile)
	fmt.Println("ovnet-dev: starting ovnet-controller (public prefixes", prefixes, ") and one ovnet-agent per chassis")
	if err := s.StartController(binDir, devstack.ControllerOptions{PublicPrefixes: prefixes, NB: s.Central.NBEndpoint(), SB: s.Central.SBEndpoint()}); err != nil {
		return err
	}
	if err := s.StartAgents(binDir); err != nil {
		return err
	}
	if samples != "" {
		out, err := exec.Command(filepath.Join(devstack.Assets(), "kubectl"), "--kubeconfig", filepath.Join(runDir, "kubeconfig"), "apply", "-f", samples).CombinedOutput()
		fmt.Print(string(out))
		if err != nil {
			return fmt.Errorf("apply %s: %w", samples, err)
		}
	}
	fmt.Printf(`
The local stack is up (chassis: %[2]s). In another shell, as root:

  source %[1]s/env.sh
  kubectl get apinet -A               # the ironcore-net objects
  kubectl get nic -A -o wide          # interfaces, their state and tap device
  ovn-nbctl show                      # the OVN northbound database
  bin/ovnet-dev vm attach default/my-nic   # a VM namespace behind the example NIC
  ip netns exec %[3]s-vm-default-my-nic ping 10.0.0.1 ...
  ip netns exec $OVNET_EXTERNAL ping 10.0.0.1   # from the external host

Logs: %[1]s/controller.log, %[1]s/agent-<node>.log, %[1]s/ovn/, %[1]s/n<i>/.
Ctrl-C (or make stop) tears everything down.
`, runDir, strings.Join(nodes, ", "), s.Layout.Prefix)
	<-ctx.Done()
	fmt.Println("\novnet-dev: stopping")
	return nil
}

// vm attaches or detaches the VM namespace behind namespace/name.
func vm(runDir string, attach, dhcp bool, ref string) error {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("%q: want NAMESPACE/NIC", ref)
	}
	layout, err := devstack.ReadLayout(runDir)
	if err != nil {
		return err
	}
	if !attach {
		return exec.Command("ip", "netns", "del", layout.VMNamespace(ns, name)).Run()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(runDir, "kubeconfig"))
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	nic := &apinetv1alpha1.NetworkInterface{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The agent reports the tap device moments after the NIC is created.
	for {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, nic); err != nil {
			return err
		}
		if nic.Status.TapDevice != nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	attachVM := layout.AttachVM
	if dhcp {
		attachVM = layout.AttachDHCPVM
	}
	v, err := attachVM(nic)
	if err != nil {
		return err
	}
	if dhcp {
		lease, _ := os.ReadFile(devstack.LeaseFile(v.NetNS))
		lease6, _ := os.ReadFile(devstack.LeaseFile6(v.NetNS))
		fmt.Printf("DHCP lease of %s:\n%s%s", ref, lease, lease6)
	}
	fmt.Printf("VM of %s is network namespace %s (eth0: %s; state %s)\n  ip netns exec %s ping ...\n",
		ref, v.NetNS, strings.Join(ipStrings(nic.Spec.IPs), ", "), nic.Status.State, v.NetNS)
	return nil
}

func ipStrings(ips []apinetv1alpha1.IPAddr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = string(ip)
	}
	return out
}

func stop(runDir string) error {
	pid, err := readPid(filepath.Join(runDir, "ovnet-dev.pid"))
	if err == nil && syscall.Kill(pid, syscall.SIGTERM) == nil {
		fmt.Println("ovnet-dev: asked the stack (pid", pid, ") to stop")
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// No live stack: its daemons died with it (parent-death signal), but
	// its API server, etcd and network namespaces may be left.
	devstack.EndLeftovers(runDir)
	if layout, err := devstack.ReadLayout(runDir); err == nil {
		devstack.RemoveNamespaces(layout.Prefix)
		fmt.Println("ovnet-dev: no stack running in", runDir, "; removed its network namespaces", layout.Prefix+"-*")
		return nil
	}
	fmt.Println("ovnet-dev: no stack running in", runDir)
	return nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
