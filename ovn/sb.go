package ovn

import (
	"context"
	"fmt"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/ovnet-dev/ovnet/ovn/sbdb"
)

// SBTables are the southbound tables ovnet reads (it writes none): the
// service monitors of the load balancers' health checks.
func SBTables() Tables { return Tables{&sbdb.ServiceMonitor{}} }

// ConnectSB connects to the OVN southbound database and keeps SBTables in
// the cache.
func ConnectSB(ctx context.Context, cfg Config) (*Client, error) {
	full, err := sbdb.FullDatabaseModel()
	if err != nil {
		return nil, fmt.Errorf("southbound model: %w", err)
	}
	return Connect(ctx, cfg, full, SBTables())
}

// Rows returns every cached row of table, of whoever wrote it.
func (c *Client) Rows(table string) []model.Model {
	rc := c.Cache().Table(table)
	if rc == nil {
		return nil
	}
	rows := rc.Rows()
	out := make([]model.Model, 0, len(rows))
	for _, m := range rows {
		out = append(out, m)
	}
	return out
}

// OnTableChange calls fn with every row of table that is inserted, updated
// or deleted (the old row for a deletion), whoever wrote it. fn runs on the
// cache's event goroutine and must not block.
func (c *Client) OnTableChange(table string, fn func(model.Model)) {
	c.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc: func(t string, m model.Model) {
			if t == table {
				fn(m)
			}
		},
		UpdateFunc: func(t string, _, m model.Model) {
			if t == table {
				fn(m)
			}
		},
		DeleteFunc: func(t string, m model.Model) {
			if t == table {
				fn(m)
			}
		},
	})
}
