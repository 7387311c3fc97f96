package testenv

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// Kubectl runs the real kubectl against env from the repository's root, with
// stdin as its input, and fails t when it fails.
func Kubectl(t testing.TB, env *Env, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(Assets(), "kubectl"), append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	cmd.Dir = RepoRoot()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// ApplyManifests applies manifests/default (the CRDs, RBAC, admission
// policy and workloads a deployment gets) to env.
func ApplyManifests(t testing.TB, env *Env) {
	t.Helper()
	Kubectl(t, env, Kubectl(t, env, "", "kustomize", "manifests/default"), "apply", "--server-side", "-f", "-")
}

// AsAgent is cfg acting as a deployed agent on node: manifests/default's
// service account ovnet-agent, with the node name the API server puts into
// a token bound to the agent's pod (impersonated).
func AsAgent(cfg *rest.Config, node string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:ovnet-system:ovnet-agent",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:ovnet-system", "system:authenticated"},
		Extra:    map[string][]string{"authentication.kubernetes.io/node-name": {node}},
	}
	return cfg
}
