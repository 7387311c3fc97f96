package ovn

import (
	"slices"
)

// Owners lists the owners of every ovnet row in the cache (rows carrying
// managed-by=ovnet and an owner UID), for garbage collection.
func (c *Client) Owners() []Owner {
	seen := map[string]Owner{}
	for _, table := range c.Cache().Tables() {
		rc := c.Cache().Table(table)
		if rc == nil {
			continue
		}
		for _, m := range rc.RowsShallow() {
			if _, ok := fieldsOf(m).byColumn["external_ids"]; !ok {
				break // a table without external_ids: no row of it is ours
			}
			if o, ok := OwnerOf(externalIDsOf(m)); ok {
				seen[o.UID] = o
			}
		}
	}
	out := make([]Owner, 0, len(seen))
	for _, o := range seen {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Owner) int { return compareStrings(a.UID, b.UID) })
	return out
}
