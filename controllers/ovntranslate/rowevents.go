package ovntranslate

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/ovn/rows"
)

// rowEvents wakes the owner of an NB row that was changed or deleted, by
// anyone: a row deleted or edited behind ovnet's back is put back by its
// owner's next reconcile, which writes nothing when the row is as wanted.
// A NIC's snat row (owned by its NAT gateway) also wakes the NIC, whose
// status.natIPs comes from that row.
type rowEvents struct {
	mu     sync.Mutex
	queues map[string]workqueue.TypedRateLimitingInterface[reconcile.Request]
}

func newRowEvents(nb *ovn.Client) *rowEvents {
	e := &rowEvents{queues: map[string]workqueue.TypedRateLimitingInterface[reconcile.Request]{}}
	nb.OnRowChange(e.handle)
	return e
}

// source is the watch of one controller: the owners of kind.
func (e *rowEvents) source(kind string) source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.queues[kind] = q
		return nil
	})
}

func (e *rowEvents) handle(ch ovn.RowChange) {
	o, ok := ovn.OwnerOf(ch.ExternalIDs)
	if !ok {
		return
	}
	if ch.Kind != ovn.RowInserted {
		e.enqueue(o.Kind, o.Namespace, o.Name)
	}
	if nic := ch.ExternalIDs[rows.KeyNATNetworkInterface]; nic != "" && ch.Table == nbdb.NATTable {
		e.enqueue(kindNetworkInterface, o.Namespace, nic)
	}
}

func (e *rowEvents) enqueue(kind, namespace, name string) {
	e.mu.Lock()
	q := e.queues[kind]
	e.mu.Unlock()
	if q != nil {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}})
	}
}
