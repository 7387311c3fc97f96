package ipam_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ovnet-dev/ovnet/controllers/ipam"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

func init() { ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel()))) }

// startManager runs the allocation controllers against env with the given
// pools until the test ends.
func startManager(t *testing.T, env *testenv.Env, prefixes []string, minVNI, maxVNI int64) {
	t.Helper()
	pfx, err := ipam.ParsePrefixes(prefixes)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ipam.NewIDPool(minVNI, maxVNI)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  testenv.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// Several managers share one API server in a test.
		Controller: controllerConfigUnique(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ipam.Setup(ctx, mgr, ipam.Options{IPPool: ipam.NewIPPool(pfx), IDPool: ids}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

func namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// eventually polls check until it returns nil, for at most 30 s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, check)
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, d, what, check)
}

// events returns the reasons of the events about obj.
func events(c client.Client, obj client.Object) []string {
	var list eventsv1.EventList
	if err := c.List(context.Background(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.UID == obj.GetUID() {
			out = append(out, e.Reason)
		}
	}
	return out
}

func condition(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return "<none>"
}
