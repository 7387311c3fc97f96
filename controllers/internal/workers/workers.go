// Package workers says how many objects of a kind ovnet's controllers
// reconcile at once.
package workers

import (
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// networkShare is how many times the manager's --concurrent-reconciles the
// Networks' controllers run at once. A Network's reconcile is a chain of
// requests (its ID and gateway address, then its rows and status) that
// mostly waits on the API server, and every NIC on the Network waits for it:
// in a cold start of hundreds of Networks the manager's share alone leaves
// the Networks queued behind each other for half a minute or more, and
// each one that waits that long writes a Pending status.
const networkShare = 4

// Networks are the options of a controller of Networks.
func Networks(mgr manager.Manager) controller.Options {
	return controller.Options{MaxConcurrentReconciles: networkShare * max(1, mgr.GetControllerOptions().MaxConcurrentReconciles)}
}
