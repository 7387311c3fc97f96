package ovntranslate_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestTransitExhausted: with a transit prefix of two free addresses, a
// third Network reports TransitExhausted and gets no gateway port; once a
// Network is deleted, it takes the released address and is written.
func TestTransitExhausted(t *testing.T) {
	env := testenv.Start(t)
	central := devstack.StartCentralT(t)
	provider := devstack.TestProvider()
	// 100.64.0.0 and the next hop .1 are reserved: .2 and .3 are free.
	provider.TransitPrefix, provider.NextHop = netip.MustParsePrefix("100.64.0.0/30"), netip.MustParseAddr("100.64.0.1")
	provider.TransitPrefix6, provider.NextHop6 = netip.Prefix{}, netip.Addr{}
	p, err := devstack.StartInProcess(env.Config, central, provider, 300, 400)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	c, ctx := env.Client, context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	network := func(name string) *apinetv1alpha1.Network {
		nw := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name}}
		if err := c.Create(ctx, nw); err != nil {
			t.Fatal(err)
		}
		return nw
	}
	gatewayPort := func(nw *apinetv1alpha1.Network) string {
		return central.NBCtl(t, "--bare", "--columns=networks", "find", "Logical_Router_Port", "name="+ns.Name+"/"+nw.Name+"/lr-gw")
	}
	a, b := network("a"), network("b")
	for _, nw := range []*apinetv1alpha1.Network{a, b} {
		ready(t, c, nw, func() []metav1.Condition { return nw.Status.Conditions }, "True/RowsWritten")
		if got, want := gatewayPort(nw), nw.Annotations[apinetv1alpha1.AnnotationTransitIP]+"/30"; got != want {
			t.Errorf("%s: gateway port networks %q, want %q (its annotation)", nw.Name, got, want)
		}
	}
	third := network("c")
	ready(t, c, third, func() []metav1.Condition { return third.Status.Conditions }, "False/TransitExhausted: no free address in the transit prefix 100.64.0.0/30")
	if got := gatewayPort(third); got != "" {
		t.Errorf("gateway port of a Network without a transit address: %q", got)
	}
	if got := third.Annotations[apinetv1alpha1.AnnotationTransitIP]; got != "" {
		t.Errorf("annotation of a Network without a transit address: %q", got)
	}
	freed := a.Annotations[apinetv1alpha1.AnnotationTransitIP]
	if err := c.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	ready(t, c, third, func() []metav1.Condition { return third.Status.Conditions }, "True/RowsWritten")
	eventually(t, "the third Network's gateway port on the freed address "+freed, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(third), third); err != nil {
			return err
		}
		if got := third.Annotations[apinetv1alpha1.AnnotationTransitIP]; got != freed {
			return fmt.Errorf("annotation %q", got)
		}
		if got := gatewayPort(third); got != freed+"/30" {
			return fmt.Errorf("gateway port networks %q", got)
		}
		return nil
	})
}
