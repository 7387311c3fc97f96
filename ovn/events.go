package ovn

import (
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/model"
)

// RowChangeKind says what happened to a row.
type RowChangeKind int

const (
	RowInserted RowChangeKind = iota
	RowUpdated
	RowDeleted
)

// RowChange is a change of an ovnet row seen in the cache.
type RowChange struct {
	Table string
	Kind  RowChangeKind
	// ExternalIDs of the row (before a deletion, after an insert or update).
	ExternalIDs map[string]string
}

// OnRowChange calls fn for every change of a row that carries ovnet's
// ownership keys, whoever made it (ovnet included): inserts, deletions, and
// updates of the columns Apply owns. Updates that touch only reference
// columns (a child linked or unlinked) or daemon-written columns (a port's
// up) are left out: they say nothing about the row's own content, and a
// child's removal shows as the child's deletion. fn runs on the cache's
// event goroutine and must not block.
func (c *Client) OnRowChange(fn func(RowChange)) {
	c.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc: func(table string, m model.Model) {
			c.emit(fn, table, RowInserted, m)
		},
		UpdateFunc: func(table string, old, m model.Model) {
			if c.ownedColumnsDiffer(table, old, m) {
				c.emit(fn, table, RowUpdated, m)
			}
		},
		DeleteFunc: func(table string, m model.Model) {
			c.emit(fn, table, RowDeleted, m)
		},
	})
}

func (c *Client) emit(fn func(RowChange), table string, kind RowChangeKind, m model.Model) {
	if _, ok := fieldsOf(m).byColumn["external_ids"]; !ok {
		return
	}
	if ids := externalIDsOf(m); IsManaged(ids) {
		fn(RowChange{Table: table, Kind: kind, ExternalIDs: ids})
	}
}

func (c *Client) ownedColumnsDiffer(table string, old, m model.Model) bool {
	ts := c.Cache().DatabaseModel().Schema.Table(table)
	if ts == nil {
		return false
	}
	for _, col := range fieldsOf(m).columns {
		if ownsColumn(table, ts, col) && !equalColumn(field(m, col), field(old, col)) {
			return true
		}
	}
	return false
}
