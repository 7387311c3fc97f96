package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovnet-dev/ovnet/test/testenv"
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
	s, err := Up(dir)
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
	samples := filepath.Join(testenv.RepoRoot(), "manifests", "samples")
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
	waitShell(t, dir, "kubectl get network my-network -o jsonpath='{.status.conditions[?(@.type==\"IDAllocated\")].reason}'", "Allocated")
	waitShell(t, dir, "kubectl get networkid -o jsonpath='{.items[0].spec.claimRef.name}'", "my-network")
	// The example gateway names 10.0.0.3, for which no IP object exists:
	// it says so instead of failing silently (decision 16).
	waitShell(t, dir, "kubectl get natgateway my-nat-gateway -o jsonpath='{.status.conditions[0].reason}'", "IPNotFound")

	// The Network is written to OVN; the NIC waits for its Node and says so.
	waitShell(t, dir, "kubectl get network my-network -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}'", "RowsWritten")
	waitShell(t, dir, "ovn-nbctl --bare --columns=name find Logical_Router external_ids:apinet.ironcore.dev/owner-name=my-network", "default/my-network")
	waitShell(t, dir, "kubectl get nic my-nic -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}'", `node "my-node" does not exist`)

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
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil && !zombie(pid) {
			t.Errorf("process %d still running after Down", pid)
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
