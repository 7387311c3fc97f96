// Package testenv starts a real kube-apiserver and etcd (the binaries that
// hack/build-envtest.sh builds into bin/k8s) with ovnet's CRDs installed, for
// tests anywhere in the module.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/apis/scheme"
)

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Scheme holds the Kubernetes core kinds and ovnet's kinds.
func Scheme() *k8sruntime.Scheme { return scheme.New() }

// Env is a running API server with the CRDs installed.
type Env struct {
	Config     *rest.Config
	Client     client.Client
	Kubeconfig string
	env        *envtest.Environment
}

// Assets is the directory holding kube-apiserver, etcd and kubectl.
func Assets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin", "k8s")
}

// Start brings up the API server for one test (or TestMain) and stops it
// when t ends. It fails the test when the binaries are missing: run
// `make test`, which builds them.
func Start(t testing.TB) *Env {
	t.Helper()
	env, err := StartEnv()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	return env
}

// StartEnv brings up the API server; the caller stops it.
func StartEnv() (*Env, error) {
	assets := Assets()
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("kube-apiserver not found in %s (run hack/build-envtest.sh or make test): %w", assets, err)
	}
	e := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "manifests", "crd")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                Scheme(),
	}
	// Test data is thrown away: skip etcd's fsync, which dominates write
	// latency on shared disks.
	e.ControlPlane.Etcd = &envtest.Etcd{}
	e.ControlPlane.Etcd.Configure().Append("unsafe-no-fsync", "true")
	cfg, err := e.Start()
	if err != nil {
		_ = e.Stop() // Start leaves the control plane running when CRD install fails
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	// A local test API server: no client-side rate limit.
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.New(cfg, client.Options{Scheme: e.Scheme})
	if err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("client: %w", err)
	}
	dir, err := os.MkdirTemp("", "ovnet-kubeconfig-")
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(cfg, kubeconfig); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Kubeconfig: kubeconfig, env: e}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() {
	_ = e.env.Stop()
	_ = os.RemoveAll(filepath.Dir(e.Kubeconfig))
}

// GVK is the GroupVersionKind of an ovnet kind.
func GVK(kind string) schema.GroupVersionKind {
	return apinetv1alpha1.GroupVersion.WithKind(kind)
}

// WriteKubeconfig writes a kubeconfig for cfg (client certificate auth).
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["ovnet"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["ovnet"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["ovnet"] = &clientcmdapi.Context{Cluster: "ovnet", AuthInfo: "ovnet", Namespace: "default"}
	kc.CurrentContext = "ovnet"
	return clientcmd.WriteToFile(*kc, path)
}
