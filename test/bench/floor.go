package main

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/ovn-kubernetes/libovsdb/mapper"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// tableRow is one row of a snapshot, with its table.
type tableRow struct {
	table string
	row   model.Model
}

// snapshotRows copies every row of the NB database but the singletons of
// its configuration (NB_Global, Connection, SSL), which a fresh database
// has or does not need.
func snapshotRows(nb *ovn.Client) []tableRow {
	var out []tableRow
	tables := make([]string, 0, len(nb.Schema().Tables))
	for t := range nb.Schema().Tables {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		if t == nbdb.NBGlobalTable || t == nbdb.ConnectionTable || t == nbdb.SSLTable {
			continue
		}
		tc := nb.Cache().Table(t)
		if tc == nil {
			continue
		}
		for _, m := range tc.Rows() {
			out = append(out, tableRow{table: t, row: model.Clone(m)})
		}
	}
	return out
}

// writeBulk inserts rows, keeping their UUIDs, in transactions of about
// maxRows rows: each root row travels with the non-root rows it owns (they
// must be referenced in the transaction that inserts them), and a root is
// written after the rows it references. It returns the transactions used.
func writeBulk(ctx context.Context, nb *ovn.Client, rows []tableRow, maxRows int) (int, error) {
	schema := nb.Schema()
	byUUID := map[string]int{}
	for i, r := range rows {
		byUUID[rowUUID(r.row)] = i
	}
	refs := make([][]int, len(rows))
	for i, r := range rows {
		var err error
		if refs[i], err = references(schema, r, byUUID); err != nil {
			return 0, err
		}
	}
	isRoot := func(i int) bool { ok, _ := schema.IsRoot(rows[i].table); return ok }

	// Each non-root row belongs to the first root that reaches it.
	owner := make([]int, len(rows))
	for i := range owner {
		owner[i] = -1
	}
	var claim func(root, i int)
	claim = func(root, i int) {
		for _, j := range refs[i] {
			if !isRoot(j) && owner[j] < 0 {
				owner[j] = root
				claim(root, j)
			}
		}
	}
	members := map[int][]int{}
	for i := range rows {
		if isRoot(i) {
			owner[i] = i
			claim(i, i)
		}
	}
	for i := range rows {
		if owner[i] >= 0 {
			members[owner[i]] = append(members[owner[i]], i)
		}
	}

	// Roots in dependency order: what a unit references comes first.
	var order []int
	state := map[int]int{} // 1 visiting, 2 done
	var visit func(root int)
	visit = func(root int) {
		if state[root] != 0 {
			return
		}
		state[root] = 1
		for _, i := range members[root] {
			for _, j := range refs[i] {
				if dep := owner[j]; dep >= 0 && dep != root {
					visit(dep)
				}
			}
		}
		state[root] = 2
		order = append(order, root)
	}
	for i := range rows {
		if isRoot(i) {
			visit(i)
		}
	}

	txns := 0
	var batch []ovsdb.Operation
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := nb.Transact(ctx, batch...); err != nil {
			return err
		}
		txns++
		batch = batch[:0]
		return nil
	}
	for _, root := range order {
		for _, i := range members[root] {
			ops, err := nb.Create(rows[i].row)
			if err != nil {
				return txns, fmt.Errorf("insert into %s: %w", rows[i].table, err)
			}
			batch = append(batch, ops...)
		}
		if len(batch) >= maxRows {
			if err := flush(); err != nil {
				return txns, err
			}
		}
	}
	return txns, flush()
}

// rowUUID is the _uuid of a generated model (its UUID field).
func rowUUID(m model.Model) string {
	return reflect.ValueOf(m).Elem().FieldByName("UUID").String()
}

// references are the rows of the snapshot that row r refers to through
// its uuid columns (strong or weak).
func references(schema ovsdb.DatabaseSchema, r tableRow, byUUID map[string]int) ([]int, error) {
	ts := schema.Table(r.table)
	info, err := mapper.NewInfo(r.table, ts, r.row)
	if err != nil {
		return nil, err
	}
	var out []int
	add := func(u string) {
		if i, ok := byUUID[u]; ok {
			out = append(out, i)
		}
	}
	for col, cs := range ts.Columns {
		key, value := cs.TypeObj.Key, cs.TypeObj.Value
		keyRef := key != nil && key.Type == ovsdb.TypeUUID
		valueRef := value != nil && value.Type == ovsdb.TypeUUID
		if !keyRef && !valueRef {
			continue
		}
		v, err := info.FieldByColumn(col)
		if err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case string:
			add(v)
		case *string:
			if v != nil {
				add(*v)
			}
		case []string:
			for _, u := range v {
				add(u)
			}
		case map[string]string:
			for k, u := range v {
				if keyRef {
					add(k)
				}
				if valueRef {
					add(u)
				}
			}
		}
	}
	return out, nil
}
