package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovnet-dev/ovnet/test/testenv"
)

// The example manifests users were promised (manifests/samples) must
// apply unchanged, and kubectl get must show the printer columns. Where the
// API contract's own copy sits beside the checkout, the two must agree.
func TestSeedManifestsApply(t *testing.T) {
	samples := filepath.Join(testenv.RepoRoot(), "manifests", "samples")
	if shared := filepath.Join(testenv.RepoRoot(), "..", "shared", "seed", "manifests"); dirExists(shared) {
		compareDirs(t, shared, samples)
	}
	env := testenv.Start(t)
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(testenv.Assets(), "kubectl"), append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	for _, f := range []string{"ip.yaml", "network.yaml", "networkinterface.yaml", "natgateway.yaml", "loadbalancer.yaml", "instance.yaml"} {
		out := kubectl("apply", "-f", filepath.Join(samples, f))
		if !strings.Contains(out, "created") {
			t.Errorf("kubectl apply -f %s: %s", f, out)
		}
	}
	for _, tc := range []struct {
		resource string
		header   []string
		row      []string
	}{
		{"ips", []string{"NAME", "TYPE", "IP", "CLAIMREF", "AGE"}, []string{"my-public-ip", "Public", "10.0.0.1"}},
		{"networks", []string{"NAME", "ID", "AGE"}, []string{"my-network"}},
		{"networkinterfaces", []string{"NAME", "NETWORK", "IPS", "PREFIXES", "PUBLICIPS", "STATE", "AGE"}, []string{"my-nic", "my-network", "192.168.178.1"}},
		{"natgateways", []string{"NAME", "NETWORK", "IPS", "AGE"}, []string{"my-nat-gateway", "my-network", "10.0.0.3"}},
		{"loadbalancers", []string{"NAME", "TYPE", "NETWORK", "IPS", "AGE"}, []string{"my-instance", "Public", "my-network", "10.0.0.2"}},
		{"instances", []string{"NAME", "TYPE", "LBTYPE", "NETWORK", "IPS", "AGE"}, []string{"my-instance", "LoadBalancer", "Public", "my-network", "10.0.0.2"}},
	} {
		out := kubectl("get", tc.resource, "-n", "default")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Errorf("kubectl get %s: want a header and one row, got:\n%s", tc.resource, out)
			continue
		}
		if got := strings.Fields(lines[0]); strings.Join(got, " ") != strings.Join(tc.header, " ") {
			t.Errorf("kubectl get %s columns = %v, want %v", tc.resource, got, tc.header)
		}
		for _, want := range tc.row {
			if !strings.Contains(lines[1], want) {
				t.Errorf("kubectl get %s row lacks %q:\n%s", tc.resource, want, out)
			}
		}
	}
	// kubectl explain shows the field descriptions.
	if out := kubectl("explain", "natgateways.spec.portsPerNetworkInterface"); !strings.Contains(out, "source-port block") {
		t.Errorf("kubectl explain lacks the field description:\n%s", out)
	}
	// All kinds answer to the apinet category.
	if out := kubectl("get", "apinet", "-A"); !strings.Contains(out, "my-nic") || !strings.Contains(out, "my-nat-gateway") {
		t.Errorf("kubectl get apinet:\n%s", out)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func compareDirs(t *testing.T, want, got string) {
	t.Helper()
	entries, err := os.ReadDir(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		a, _ := os.ReadFile(filepath.Join(want, e.Name()))
		b, err := os.ReadFile(filepath.Join(got, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("manifests/samples/%s differs from the seed manifest: copy it unchanged", e.Name())
		}
	}
}
