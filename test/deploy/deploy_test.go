// Package deploy checks the deployment manifests (manifests/default) the
// way a user applies them, against a real API server: they render with
// kustomize and apply, and the API server itself keeps an agent to its own
// node.
package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

var kubectl = testenv.Kubectl

// TestManifestsApply renders manifests/default and applies it: every CRD
// of manifests/crd is in it, and every object is accepted.
func TestManifestsApply(t *testing.T) {
	env := testenv.Start(t)
	rendered := kubectl(t, env, "", "kustomize", "manifests/default")
	crds, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "manifests", "crd", "core.apinet.ironcore.dev_*.yaml"))
	if got := strings.Count(rendered, "\nkind: CustomResourceDefinition\n"); got != len(crds) {
		t.Errorf("manifests/default has %d CRDs, manifests/crd %d: update manifests/crd/kustomization.yaml", got, len(crds))
	}
	out := kubectl(t, env, rendered, "apply", "--server-side", "-f", "-")
	for _, want := range []string{"deployment.apps/ovnet-controller serverside-applied", "daemonset.apps/ovnet-agent serverside-applied",
		"validatingadmissionpolicy.admissionregistration.k8s.io/ovnet-agent-own-node serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/ovnet-agent serverside-applied"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
}

// TestAgentOwnNode: with the manifests' RBAC and admission policy, an agent
// identity bound to node-1 may register node-1, update the status and
// finalizers of node-1's NICs and renew its own Lease, and nothing of
// node-2's, nor a kubelet's Lease.
func TestAgentOwnNode(t *testing.T) {
	env := testenv.Start(t)
	testenv.ApplyManifests(t, env)
	ctx := context.Background()
	admin := env.Client
	nic := func(name, node string) *apinetv1alpha1.NetworkInterface {
		n := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: apinetv1alpha1.NetworkInterfaceSpec{NodeRef: corev1.LocalObjectReference{Name: node},
				NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: []apinetv1alpha1.IPAddr{"10.0.0.1"}}}
		if err := admin.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	own, other := nic("own", "node-1"), nic("other", "node-2")
	if err := admin.Create(ctx, &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2"}}); err != nil {
		t.Fatal(err)
	}
	agent := func(node string) client.Client {
		c, err := client.New(testenv.AsAgent(env.Config, node), client.Options{Scheme: testenv.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := agent("node-1")
	// The policy takes a moment to be enforced after it is created.
	denied := func(err error, what string) {
		t.Helper()
		if err == nil || !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want it denied", what, err)
		} else if !strings.Contains(err.Error(), "ovnet-agent on node node-1 may only") {
			t.Errorf("%s denied, but not by the own-node policy: %v", what, err)
		}
	}
	testenv.Eventually(t, 30*time.Second, "policy enforced", func() error {
		o := other.DeepCopy()
		patch := client.MergeFrom(o.DeepCopy())
		o.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
		if err := a.Status().Patch(ctx, o, patch); err == nil || !strings.Contains(err.Error(), "may only") {
			return fmt.Errorf("status of node-2's NIC: %v", err)
		}
		return nil
	})

	// Allowed: its own Node, status and finalizer of its own NIC.
	if err := a.Create(ctx, &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Annotations: map[string]string{apinetv1alpha1.AnnotationChassis: "c1"}}}); err != nil {
		t.Errorf("register own node: %v", err)
	}
	patch := client.MergeFrom(own.DeepCopy())
	own.Status.State = apinetv1alpha1.NetworkInterfaceStateReady
	if err := a.Status().Patch(ctx, own, patch); err != nil {
		t.Errorf("status of own NIC: %v", err)
	}
	patch = client.MergeFrom(own.DeepCopy())
	own.Finalizers = append(own.Finalizers, "nodeagent.apinet.ironcore.dev/device")
	if err := a.Patch(ctx, own, patch); err != nil {
		t.Errorf("finalizer on own NIC: %v", err)
	}

	lease := func(namespace, name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-1")}}
	}
	ownLease := lease(apinetv1alpha1.NodeAgentLeaseNamespace, apinetv1alpha1.NodeAgentLeaseName("node-1"))
	if err := a.Create(ctx, ownLease); err != nil {
		t.Errorf("create own lease: %v", err)
	}
	ownLease.Spec.LeaseDurationSeconds = ptr.To(int32(40))
	if err := a.Update(ctx, ownLease); err != nil {
		t.Errorf("renew own lease: %v", err)
	}

	// Denied: another node's NIC and Node, the spec of its own NIC, any
	// Lease but its own.
	denied(a.Create(ctx, lease(apinetv1alpha1.NodeAgentLeaseNamespace, apinetv1alpha1.NodeAgentLeaseName("node-2"))), "node-2's agent lease")
	denied(a.Create(ctx, lease(apinetv1alpha1.NodeAgentLeaseNamespace, "node-1")), "node-1's kubelet lease")
	denied(a.Create(ctx, lease("ovnet-system", apinetv1alpha1.NodeAgentLeaseName("node-1"))), "a lease of its name in another namespace")
	if err := a.Delete(ctx, ownLease); err == nil {
		t.Error("the agent deleted its own lease; want it denied")
	}
	patch = client.MergeFrom(other.DeepCopy())
	other.Finalizers = append(other.Finalizers, "nodeagent.apinet.ironcore.dev/device")
	denied(a.Patch(ctx, other, patch), "finalizer on node-2's NIC")
	node2 := &apinetv1alpha1.Node{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "node-2"}, node2); err != nil {
		t.Fatal(err)
	}
	patch = client.MergeFrom(node2.DeepCopy())
	node2.Labels = map[string]string{"stolen": "yes"}
	denied(a.Patch(ctx, node2, patch), "label on node-2")
	patch = client.MergeFrom(own.DeepCopy())
	own.Spec.Prefixes = []apinetv1alpha1.IPPrefix{"10.9.0.0/24"}
	denied(a.Patch(ctx, own, patch), "spec of its own NIC")
	// RBAC: no deletes at all.
	if err := a.Delete(ctx, own); !apierrors.IsForbidden(err) {
		t.Errorf("delete own NIC: %v, want forbidden by RBAC", err)
	}
	// A token not bound to a node is refused outright.
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:ovnet-system:ovnet-agent", Groups: []string{"system:authenticated"}}
	unbound, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := unbound.Create(ctx, &apinetv1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-3"}}); err == nil || !strings.Contains(err.Error(), "not bound to a node") {
		t.Errorf("unbound token: %v", err)
	}
}

// TestKindOverlay renders test/kind/overlay the way test/kind/run.sh does: this cluster's NB endpoint and
// prefix in the controller's ConfigMap, the locally loaded image never
// pulled, two controller replicas (leader election), every node offering gateways, and it
// applies to a real API server.
func TestKindOverlay(t *testing.T) {
	env := testenv.Start(t)
	dir := t.TempDir()
	overlay := filepath.Join(dir, "overlay")
	if out, err := exec.Command("cp", "-r", filepath.Join(testenv.RepoRoot(), "test", "kind", "overlay"), overlay).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	kust := filepath.Join(overlay, "kustomization.yaml")
	b, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	// kustomize takes bases by relative path only.
	base, err := filepath.Rel(overlay, filepath.Join(testenv.RepoRoot(), "manifests", "default"))
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.ReplaceAll(string(b), "../../../manifests/default", base))
	if err := os.WriteFile(kust, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(overlay, "controller-config.env"), []byte("OVN_NB=ssl:172.18.0.2:6641\nOVN_SB=ssl:172.18.0.2:6642\nPUBLIC_PREFIXES=203.0.113.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rendered := kubectl(t, env, "", "kustomize", overlay)
	for _, want := range []string{"OVN_NB: ssl:172.18.0.2:6641", "OVN_SB: ssl:172.18.0.2:6642", "- --ovn-sb=$(OVN_SB)", "PUBLIC_PREFIXES: 203.0.113.0/24", "image: ovnet:kind",
		"imagePullPolicy: Never", "replicas: 2", "- --gateway", "- --transit-prefix=100.64.0.0/17"} {
		if !strings.Contains(rendered, want) {
			t.Errorf("rendered kind overlay lacks %q", want)
		}
	}
	if strings.Contains(rendered, "ovnkube-db-0") {
		t.Error("the kind overlay still carries the default NB endpoints")
	}
	kubectl(t, env, rendered, "apply", "--server-side", "-f", "-")
}
