package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ovnet-dev/ovnet/apis/scheme"
)

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// Assets is the directory holding kube-apiserver, kube-controller-manager,
// etcd and kubectl (the binaries hack/build-envtest.sh builds into bin/k8s).
func Assets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin", "k8s")
}

// Env is a running kube-apiserver and etcd with ovnet's CRDs installed, and
// kube-controller-manager's garbage collector and namespace controller.
type Env struct {
	Config     *rest.Config
	Client     client.Client
	Kubeconfig string
	env        *envtest.Environment
	cm         *controllerManager
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
		Scheme:                scheme.New(),
	}
	// The stack's data is thrown away: skip etcd's fsync, which dominates
	// write latency on shared disks.
	e.ControlPlane.Etcd = &envtest.Etcd{}
	e.ControlPlane.Etcd.Configure().Append("unsafe-no-fsync", "true")
	cfg, err := e.Start()
	if err != nil {
		_ = e.Stop() // Start leaves the control plane running when CRD install fails
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	// A local API server: no client-side rate limit.
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
	cm, err := startControllerManager(assets, kubeconfig, filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Kubeconfig: kubeconfig, env: e, cm: cm}, nil
}

// Stop stops the controller manager, the API server and etcd.
func (e *Env) Stop() {
	e.cm.Stop()
	_ = e.env.Stop()
	_ = os.RemoveAll(filepath.Dir(e.Kubeconfig))
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
