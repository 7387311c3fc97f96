package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestKubectlOvnetStatus: `kubectl ovnet status` (the kubectl-ovnet plugin
// found on PATH) reports a Network's VNI, its OVN router, its NICs by state
// (one Ready, one in IPConflict), the chassis its gateway port is active on
// as the southbound database has it, and names the conflicting NIC with its
// condition's message.
func TestKubectlOvnetStatus(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	nw := e.network("net1")
	e.nic("a", "net1", "node-1", "10.0.0.1")
	dup := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "dup"},
		Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: "node-2"},
			NetworkRef: corev1.LocalObjectReference{Name: "net1"}, IPs: []apinetv1alpha1.IPAddr{"10.0.0.1"}}}
	if err := e.c.Create(ctx, dup); err != nil {
		t.Fatal(err)
	}
	kubectl := e.kubectlOvnet()
	var report struct {
		Networks []struct {
			Name, VNI, Router, Ready string
			NICs                     struct{ Ready, Pending, Error int } `json:"networkInterfaces"`
			Gateway                  string                              `json:"gatewayChassis"`
		}
		Problems []struct{ Kind, Name, Condition, Reason, Message string }
	}
	testenv.Eventually(t, 30*time.Second, "kubectl ovnet status reports net1 with one NIC Ready and one in conflict", func() error {
		out, err := kubectl("status", "-n", e.ns, "-o", "json")
		if err != nil {
			return err
		}
		report.Networks, report.Problems = nil, nil
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			return err
		}
		if len(report.Networks) != 1 || report.Networks[0].NICs.Ready != 1 || report.Networks[0].NICs.Error != 1 || report.Networks[0].Gateway == "" {
			return fmt.Errorf("report %s", out)
		}
		return nil
	})
	n := report.Networks[0]
	if gw := e.activeChassisOfGateway(nw); n.Name != "net1" || n.VNI != nw.Spec.ID || n.Router != e.ns+"/net1" || n.Ready != "True" || n.Gateway != gw {
		t.Errorf("network %+v, want VNI %s, router %s/net1, Ready, gateway %s", n, nw.Spec.ID, e.ns, gw)
	}
	found := false
	for _, p := range report.Problems {
		if p.Kind == "NetworkInterface" && p.Name == "dup" && p.Condition == "Ready" && p.Reason == "IPConflict" && strings.Contains(p.Message, "10.0.0.1") {
			found = true
		} else if p.Name == "a" {
			t.Errorf("the healthy NIC is reported as a problem: %+v", p)
		}
	}
	if !found {
		t.Errorf("problems %+v lack the conflicting NIC dup", report.Problems)
	}
	table, err := kubectl("status", "-n", e.ns)
	if err != nil || !strings.Contains(table, e.ns+"/net1") || !strings.Contains(table, "1/0/1") || !strings.Contains(table, "NetworkInterface "+e.ns+"/dup: Ready=False IPConflict") {
		t.Errorf("table output (%v):\n%s", err, table)
	}
	t.Logf("kubectl ovnet status -n %s:\n%s", e.ns, table)
}

// kubectlOvnet builds the plugin and returns a runner of `kubectl ovnet
// ARGS...` with it on PATH, the stack's kubeconfig and its NB and SB
// databases in the environment, as env.sh sets them.
func (e *env) kubectlOvnet() func(args ...string) (string, error) {
	e.t.Helper()
	bin := e.t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-ovnet")
	build.Dir = devstack.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		e.t.Fatalf("go build ./cmd/kubectl-ovnet: %v\n%s", err, out)
	}
	return func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(devstack.Assets(), "kubectl"), append([]string{"ovnet"}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "KUBECONFIG="+filepath.Join(e.s.RunDir, "kubeconfig"),
			"OVN_NB_DB="+e.s.Central.NBEndpoint(), "OVN_SB_DB="+e.s.Central.SBEndpoint())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}
