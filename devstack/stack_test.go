package devstack

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpDown brings the local stack up as make run does, uses it the way the
// README says (source env.sh; kubectl; ovn-nbctl), and checks that Down
// leaves no process behind.
func TestUpDown(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "run")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	provider := TestProvider()
	provider.PublicPrefixes = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	s, err := Up(Options{RunDir: dir, Nodes: []string{"my-node", "node-2", "node-3"}, Provider: provider})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Down()
	bin := t.TempDir()
	if err := BuildBinaries(bin); err != nil {
		t.Fatal(err)
	}
	if err := s.StartController(bin, ControllerOptions{PublicPrefixes: []string{"10.0.0.0/24"}, NB: s.Central.NBEndpoint()}); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range s.Central.daemons {
		pids = append(pids, d.cmd.Process.Pid)
	}
	for _, ch := range s.Chassis {
		for _, d := range ch.daemons {
			pids = append(pids, d.cmd.Process.Pid)
		}
	}
	samples := filepath.Join(RepoRoot(), "manifests", "samples")
	script := `set -e; source ` + dir + `/env.sh
kubectl apply -f ` + samples + ` >/dev/null
kubectl get nic my-nic -o jsonpath='{.spec.ips[0]}'; echo
ovn-nbctl ls-add probe && ovn-nbctl --bare --columns=name find Logical_Switch name=probe`
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("using the stack: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "192.168.178.1" || got[1] != "probe" {
		t.Fatalf("kubectl/ovn-nbctl through env.sh gave %q", out)
	}
	// ovnet-controller allocates what the examples ask for.
	waitShell(t, dir, "kubectl get ip my-public-ip -o jsonpath='{.status.conditions[0].reason} {.spec.ipFamily}'", "Allocated IPv4")
	waitShell(t, dir, "kubectl get ipaddr 10.0.0.1 -o jsonpath='{.spec.claimRef.name}'", "my-public-ip")
	waitShell(t, dir, "kubectl get ip my-public-ip -o jsonpath='{.spec.claimRef.resource}/{.spec.claimRef.name}'", "networkinterfaces/my-nic")
	waitShell(t, dir, "kubectl get networkid -o jsonpath='{.items[0].spec.claimRef.name}'", "my-network")
	// The example gateway names 10.0.0.3, for which no IP object exists:
	// it says so instead of failing silently (docs/design.md item 14).
	waitShell(t, dir, "kubectl get natgateway my-nat-gateway -o jsonpath='{.status.conditions[?(@.type==\"PublicIPsClaimed\")].reason}'", "IPNotFound")

	// The Network is written to OVN; the NIC waits for its Node and says so.
	waitShell(t, dir, "kubectl get network my-network -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}'", "RowsWritten")
	waitShell(t, dir, "ovn-nbctl --bare --columns=name find Logical_Router external_ids:apinet.ironcore.dev/owner-name=my-network", "default/my-network")
	waitShell(t, dir, "kubectl get nic my-nic -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}'", `node "my-node" does not exist`)

	// The agents register the Nodes: the NIC converges, its agent plugs it
	// and reports the tap device, and a VM behind it (the documented
	// command, the guest configured by DHCP) is reached on its public IP
	// from the external host.
	if err := s.StartAgents(bin); err != nil {
		t.Fatal(err)
	}
	for _, d := range s.daemons {
		pids = append(pids, d.cmd.Process.Pid)
	}
	waitShell(t, dir, "kubectl get nodes.core.apinet.ironcore.dev -o jsonpath='{.items[*].metadata.annotations.apinet\\.ironcore\\.dev/ovn-chassis}'", "my-node node-2 node-3")
	// Kinds whose plural is also Kubernetes' have short names of ours.
	waitShell(t, dir, "kubectl get apnode,apnetpol,apds,ipaddr -A -o name | cut -d/ -f1 | sort -u | tr '\\n' ' '", "daemonset.core.apinet.ironcore.dev ipaddress.core.apinet.ironcore.dev node.core.apinet.ironcore.dev")
	waitShell(t, dir, "kubectl get nic my-nic -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason} {.status.state}'", "RowsWritten Ready")
	// The VM runs only a DHCP client: OVN's answer alone puts it online.
	out, err = exec.Command(filepath.Join(bin, "ovnet-dev"), "vm", "attach", "--dhcp", "--run-dir", dir, "default/my-nic").CombinedOutput()
	if err != nil {
		t.Fatalf("ovnet-dev vm attach --dhcp: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ip=192.168.178.1") {
		t.Errorf("ovnet-dev vm attach --dhcp printed no lease of 192.168.178.1:\n%s", out)
	}
	waitShell(t, dir, "ip netns exec $OVNET_EXTERNAL ping -c 1 -W 1 10.0.0.1 >/dev/null && echo reached", "reached")
	vmNS := s.Layout.VMNamespace("default", "my-nic")
	waitShell(t, dir, "ip netns exec "+vmNS+" ping -c 1 -W 1 100.64.0.1 >/dev/null && echo reached", "reached")

	// A tenant's namespace goes as on a cluster: kube-controller-manager's
	// namespace controller deletes every object in it, the garbage
	// collector their dependents, and ovnet every OVN row and lock of them.
	tenant := `apiVersion: v1
kind: Namespace
metadata: {name: tenant-a}
---
apiVersion: core.apinet.ironcore.dev/v1alpha1
kind: Network
metadata: {namespace: tenant-a, name: net}
---
apiVersion: core.apinet.ironcore.dev/v1alpha1
kind: NetworkInterface
metadata: {namespace: tenant-a, name: nic}
spec:
  networkRef: {name: net}
  nodeRef: {name: node-2}
  ips: [192.168.0.10]
  publicIPs: [{name: pub, ipFamily: IPv4}]
---
apiVersion: core.apinet.ironcore.dev/v1alpha1
kind: NATGateway
metadata: {namespace: tenant-a, name: nat}
spec:
  networkRef: {name: net}
  ipFamily: IPv4
  ips: [{name: ip-1}]
  portsPerNetworkInterface: 1024
---
apiVersion: core.apinet.ironcore.dev/v1alpha1
kind: NetworkPolicy
metadata: {namespace: tenant-a, name: pol}
spec:
  networkRef: {name: net}
  networkInterfaceSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/24}}]}]
`
	tenantRows := `for t in Logical_Router Logical_Switch Logical_Switch_Port Logical_Router_Port Logical_Router_Static_Route NAT ACL Address_Set DHCP_Options Load_Balancer; do
  ovn-nbctl --bare --columns=_uuid find $t external_ids:apinet.ironcore.dev/owner-namespace=tenant-a; done | grep -c .`
	tenantLocks := `kubectl get ipaddr,networkid -o jsonpath='{range .items[*]}{.spec.claimRef.namespace}{"\n"}{end}' | grep -c '^tenant-a$'`
	if out, err := exec.Command("bash", "-c", "source "+dir+"/env.sh; kubectl apply -f - <<'EOF'\n"+tenant+"EOF").CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply tenant-a: %v\n%s", err, out)
	}
	waitShell(t, dir, "kubectl -n tenant-a get nic nic -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason} {.status.state}'", "RowsWritten Ready")
	waitShell(t, dir, "kubectl -n tenant-a get natgateway nat -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'", "True")
	waitShell(t, dir, "ovn-nbctl --bare --columns=_uuid find ACL external_ids:apinet.ironcore.dev/owner-kind=NetworkPolicy external_ids:apinet.ironcore.dev/owner-namespace=tenant-a | grep -c . | sed 's/^[1-9][0-9]*$/some/'", "some")
	rows, _ := exec.Command("bash", "-c", "source "+dir+"/env.sh; "+tenantRows).CombinedOutput()
	locks, _ := exec.Command("bash", "-c", "source "+dir+"/env.sh; "+tenantLocks).CombinedOutput()
	if n, _ := strconv.Atoi(strings.TrimSpace(string(rows))); n < 10 {
		t.Fatalf("tenant-a has %q OVN rows before its deletion, want its Network, NIC, NAT and policy rows", rows)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(locks))); n < 3 {
		t.Fatalf("tenant-a holds %q locks (IPAddress, NetworkID) before its deletion, want the VNI, the transit address and two public IPs", locks)
	}
	start := time.Now()
	if out, err := exec.Command("bash", "-c", "source "+dir+"/env.sh; kubectl delete namespace tenant-a --timeout=60s").CombinedOutput(); err != nil {
		t.Fatalf("kubectl delete namespace tenant-a: %v\n%s", err, out)
	}
	waitShell(t, dir, tenantRows, "0")
	waitShell(t, dir, tenantLocks, "0")
	t.Logf("namespace tenant-a (%s OVN rows, %s locks) gone with its rows and locks in %s", strings.TrimSpace(string(rows)), strings.TrimSpace(string(locks)), time.Since(start).Round(100*time.Millisecond))
	waitShell(t, dir, "ip netns exec "+vmNS+" ping -c 1 -W 1 100.64.0.1 >/dev/null && echo reached", "reached")

	// northd is alive and connected: the switch shows up in the SB database.
	deadline := time.Now().Add(10 * time.Second)
	for {
		sb, _ := exec.Command("ovn-sbctl", "--db="+s.Central.SBEndpoint(), "--bare", "--columns=external_ids", "list", "Datapath_Binding").CombinedOutput()
		if strings.Contains(string(sb), "probe") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovn-northd did not translate the switch into the SB database: %s", sb)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Down()
	if out, _ := exec.Command("ip", "netns", "list").CombinedOutput(); strings.Contains(string(out), s.Layout.Prefix) {
		t.Errorf("namespaces left after Down:\n%s", out)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil && !zombie(pid) {
			t.Errorf("process %d still running after Down", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "env.sh")); err == nil {
		t.Error("env.sh of the stopped stack is left")
	}

	// A second make run in the same directory works: the stack comes up
	// afresh (no object or row of the first one), the controller writes
	// the examples' Network again.
	s, err = Up(Options{RunDir: dir, Nodes: []string{"my-node"}, Provider: provider})
	if err != nil {
		t.Fatalf("second Up in %s: %v", dir, err)
	}
	defer s.Down()
	if err := s.StartController(bin, ControllerOptions{PublicPrefixes: []string{"10.0.0.0/24"}, NB: s.Central.NBEndpoint()}); err != nil {
		t.Fatal(err)
	}
	waitShell(t, dir, "ovn-nbctl --bare --columns=name find Logical_Switch name=probe; kubectl get nic -A --no-headers 2>&1", "No resources found")
	waitShell(t, dir, "kubectl apply -f "+samples+" >/dev/null && kubectl get network my-network -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}'", "RowsWritten")
	s.Down()

	// A crashed make run (its process killed) leaves its API server and
	// etcd behind, which no parent-death signal ends: make stop (as the
	// next make run) ends them, and nothing of the stack keeps running.
	crash := filepath.Join(dir, "crash")
	up := exec.Command(filepath.Join(bin, "ovnet-dev"), "up", "--run-dir", crash, "--bin-dir", bin, "--nodes", "my-node")
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = up.Process.Kill(); EndLeftovers(crash) }()
	waitShell(t, crash, "kubectl get ns default -o name", "namespace/default")
	b, err := os.ReadFile(filepath.Join(crash, "api-processes"))
	if err != nil || len(strings.Fields(string(b))) != 2 {
		t.Fatalf("the stack recorded API processes %q (%v), want kube-apiserver and etcd", b, err)
	}
	if err := up.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = up.Wait()
	for _, f := range strings.Fields(string(b)) {
		if pid, _ := strconv.Atoi(f); syscall.Kill(pid, 0) != nil {
			t.Fatalf("process %d ended with the killed stack: nothing to clean up, the check is moot", pid)
		}
	}
	if out, err := exec.Command(filepath.Join(bin, "ovnet-dev"), "stop", "--run-dir", crash).CombinedOutput(); err != nil {
		t.Fatalf("ovnet-dev stop after a crash: %v\n%s", err, out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		for syscall.Kill(pid, 0) == nil && !zombie(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			t.Errorf("process %d of the crashed stack still runs after ovnet-dev stop", pid)
		}
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// waitShell runs script (with env.sh sourced) until its output is want.
func waitShell(t *testing.T, dir, script, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("bash", "-c", "source "+dir+"/env.sh; "+script).CombinedOutput()
		if strings.TrimSpace(string(out)) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %q, want %q", script, out, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
