// Package enqueue maps a watched object's event to the objects of another
// kind that must be reconciled: the one shape most of ovnet's watches have.
package enqueue

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// OnDelete passes only deletions: for watches where only a gone object
// matters (a released value, a deleted claimer).
func OnDelete() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// ReadyChanged passes creations, deletions, and updates that change the
// object's UID, its deletion or its condition condType: for watches of an
// object whose dependents care only whether it is realized (a NIC waits
// for its Network's rows, which the Network's Ready announces), not for
// its other writes (annotations, other conditions, IDs recorded on the
// way). conditions returns the object's status conditions.
func ReadyChanged(condType string, conditions func(client.Object) []metav1.Condition) predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld, e.ObjectNew
			if o.GetUID() != n.GetUID() || o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero() {
				return true
			}
			return !equality.Semantic.DeepEqual(meta.FindStatusCondition(conditions(o), condType), meta.FindStatusCondition(conditions(n), condType))
		},
	}
}

// Listed lists the objects of newList's kind — in the event object's
// namespace, or in the whole cluster when it is cluster-scoped — and
// enqueues those keep accepts (every one when keep is nil).
func Listed(c client.Client, newList func() client.ObjectList, keep func(event, item client.Object) bool) handler.MapFunc {
	return ListedWhere(c, newList, "", nil, keep)
}

// ListedWhere is Listed of only the items whose field index (a cache
// index of that name) has the value value(event): a NIC's event lists the
// load balancers of its Network, not of its namespace.
func ListedWhere(c client.Client, newList func() client.ObjectList, field string, value func(event client.Object) string,
	keep func(event, item client.Object) bool) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := newList()
		// Only read here: the cache's objects themselves, not copies of a
		// whole namespace on every event.
		opts := []client.ListOption{client.UnsafeDisableDeepCopy}
		if o.GetNamespace() != "" {
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		}
		if value != nil {
			opts = append(opts, client.MatchingFields{field: value(o)})
		}
		if err := c.List(ctx, list, opts...); err != nil {
			return nil
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, it := range items {
			item, ok := it.(client.Object)
			if ok && (keep == nil || keep(o, item)) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(item)})
			}
		}
		return out
	}
}
