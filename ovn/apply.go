package ovn

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// Row is one row an owner wants in the database: a generated model with the
// columns it should have, its stable primary key, and the rows of other
// tables whose reference column must list it (its parents).
//
// Apply writes external_ids itself (ownership keys plus Extra) and owns every
// column of the row except reference columns (those are changed only through
// Parents of the referenced rows) and columns the OVN daemons write.
type Row struct {
	Model model.Model
	// Key is unique within the row's table across all owners: builders
	// prefix it with the owner's UID.
	Key     string
	Extra   map[string]string
	Parents []Parent
}

// Parent is a reference column (Column of Table) of another row that must
// list the child row. The parent is ovnet's row with primary key Key, or,
// for rows of other tools such as OVS's br-int, the row whose name is Name.
type Parent struct {
	Table  string
	Column string
	Key    string
	Name   string
}

// ErrParentMissing is returned when a row's parent does not exist yet; the
// caller retries once the parent's owner has written it.
var ErrParentMissing = errors.New("parent row does not exist")

// noSuchValue is never the value of an ownership key.
const noSuchValue = "\x00"

// readOnlyColumns are written by the OVN/OVS daemons, never by ovnet.
var readOnlyColumns = map[string][]string{
	"Logical_Switch_Port": {"up", "dynamic_addresses"},
	"Logical_Router_Port": {"status"},
	"Interface": {"admin_state", "bfd_status", "cfm_fault", "cfm_fault_status", "cfm_flap_count", "cfm_health",
		"cfm_remote_mpids", "cfm_remote_opstate", "duplex", "error", "ifindex", "lacp_current", "link_resets",
		"link_speed", "link_state", "lldp", "mac_in_use", "mtu", "ofport", "statistics", "status"},
	"Port":   {"bond_active_slave", "lacp", "statistics", "status"},
	"Bridge": {"datapath_id", "datapath_version", "status", "rstp_status"},
}

// daemonExternalIDs are external_ids keys the daemons add to rows ovnet
// owns; Apply keeps them (ovn-controller marks a plugged interface
// ovn-installed once its flows are in place).
var daemonExternalIDs = map[string][]string{
	"Interface": {"ovn-installed", "ovn-installed-ts"},
}

// plan is the operations of one Apply, built against the cache.
type plan struct {
	c        *Client
	ops      []ovsdb.Operation
	uuids    map[string]map[string]string // table -> key -> uuid or named uuid of this plan's rows
	inserted map[string]int               // (named) uuid -> index of its insert operation
}

// Apply makes the database hold exactly rows for owner: it inserts missing
// rows, updates only the columns that differ, links rows into their parents,
// and deletes rows of owner that are no longer wanted (unlinking them first),
// all in one transaction. Nothing is sent when nothing differs. It returns
// the number of operations committed.
func (c *Client) Apply(ctx context.Context, owner Owner, rows []Row) (int, error) {
	p, err := c.plan(owner, rows)
	if err != nil {
		return 0, err
	}
	if len(p.ops) == 0 {
		return 0, nil
	}
	if err := c.commit(ctx, p.ops); err != nil {
		return 0, fmt.Errorf("apply %s: %w", owner, err)
	}
	return len(p.ops), nil
}

// plan computes the operations that make the cache hold exactly rows for owner.
func (c *Client) plan(owner Owner, rows []Row) (*plan, error) {
	if owner.UID == "" {
		return nil, errors.New("apply: owner has no UID")
	}
	p := &plan{c: c, uuids: map[string]map[string]string{}, inserted: map[string]int{}}
	wanted := map[string]map[string]bool{}
	for i := range rows {
		r := &rows[i]
		table, err := p.table(r.Model)
		if err != nil {
			return nil, err
		}
		if r.Key == "" {
			return nil, fmt.Errorf("apply %s: %s row without key", owner, table)
		}
		if wanted[table] == nil {
			wanted[table] = map[string]bool{}
		}
		if wanted[table][r.Key] {
			return nil, fmt.Errorf("apply %s: two %s rows with key %q", owner, table, r.Key)
		}
		wanted[table][r.Key] = true
		setExternalIDs(r.Model, owner.ExternalIDs(r.Key, r.Extra))
		if err := p.upsert(table, r); err != nil {
			return nil, fmt.Errorf("apply %s: %w", owner, err)
		}
	}
	for i := range rows {
		if err := p.link(&rows[i]); err != nil {
			return nil, fmt.Errorf("apply %s: %w", owner, err)
		}
	}
	p.deleteUnwanted(owner, wanted)
	return p, nil
}

// Delete removes every row of owner (and its links from parents) in one
// transaction.
func (c *Client) Delete(ctx context.Context, owner Owner) (int, error) {
	return c.Apply(ctx, owner, nil)
}

// DeleteOthers removes the rows of every owner of owner's kind, namespace
// and name other than owner itself (an empty UID: all of them): those of
// an earlier object of the same name, gone while its rows stayed. Objects
// need no finalizer for their rows to go: a reconcile of a gone object,
// or of its successor, removes them.
func (c *Client) DeleteOthers(ctx context.Context, owner Owner) (int, error) {
	others := map[string]Owner{}
	for table := range c.Cache().DatabaseModel().Client().Types() {
		if _, ok := fieldsOf(c.newModel(table)).byColumn["external_ids"]; !ok {
			continue
		}
		for _, m := range c.byExternalID(table, KeyOwnerName, owner.Name) {
			o, ok := OwnerOf(externalIDsOf(m))
			if ok && o.Kind == owner.Kind && o.Namespace == owner.Namespace && o.UID != owner.UID {
				others[o.UID] = o
			}
		}
	}
	total := 0
	for _, o := range others {
		n, err := c.Delete(ctx, o)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete the rows of %s: %w", o, err)
		}
	}
	return total, nil
}

func (p *plan) table(m model.Model) (string, error) {
	return tableName(p.c.Cache().DatabaseModel().Client(), m)
}

// byKey returns the cached rows of table whose primary key is key.
func (p *plan) byKey(table, key string) []model.Model {
	return p.c.byExternalID(table, KeyPrimary, key)
}

// ByKey returns the cached row of ovnet's with primary key key in table,
// or nil.
func (c *Client) ByKey(table, key string) model.Model {
	if found := c.byExternalID(table, KeyPrimary, key); len(found) > 0 {
		return found[0]
	}
	return nil
}

func (c *Client) byExternalID(table, idKey, value string) []model.Model {
	rc := c.Cache().Table(table)
	if rc == nil {
		return nil
	}
	// RowsByModels answers from the first index with a hit, and a probe that
	// lacks an indexed key would hit rows that lack it too (rows of other
	// tools): fill every other indexed key with a value no row carries.
	probe := c.newModel(table)
	ids := map[string]string{KeyPrimary: noSuchValue, KeyOwnerUID: noSuchValue, KeyOwnerName: noSuchValue}
	ids[idKey] = value
	setExternalIDs(probe, ids)
	found, err := rc.RowsByModels([]model.Model{probe})
	if err != nil || len(found) == 0 {
		return nil
	}
	out := make([]model.Model, 0, len(found))
	for _, m := range found {
		// Client indexes are not unique and may also match other index
		// columns; check the value itself.
		if externalIDsOf(m)[idKey] == value {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b model.Model) int { return compareStrings(uuidOf(a), uuidOf(b)) })
	return out
}

func (c *Client) newModel(table string) model.Model {
	t := c.Cache().DatabaseModel().Client().Types()[table]
	return reflect.New(t.Elem()).Interface().(model.Model)
}

func (p *plan) schema(table string) *ovsdb.TableSchema {
	return p.c.Cache().DatabaseModel().Schema.Table(table)
}

func (p *plan) remember(table, key, uuid string) {
	if p.uuids[table] == nil {
		p.uuids[table] = map[string]string{}
	}
	p.uuids[table][key] = uuid
}

// upsert inserts r or updates the columns of the cached row that differ.
func (p *plan) upsert(table string, r *Row) error {
	existing := p.byKey(table, r.Key)
	if len(existing) == 0 {
		return p.insert(table, r)
	}
	cur := existing[0]
	p.remember(table, r.Key, uuidOf(cur))
	ts := p.schema(table)
	keepDaemonExternalIDs(table, r.Model, cur)
	update := ovsdb.Row{}
	for _, col := range fieldsOf(r.Model).columns {
		if !ownsColumn(table, ts, col) {
			continue
		}
		want := field(r.Model, col)
		if equalColumn(want, field(cur, col)) {
			continue
		}
		v, err := ovsdb.NativeToOvs(ts.Column(col), want.Interface())
		if err != nil {
			return fmt.Errorf("%s %s column %s: %w", table, r.Key, col, err)
		}
		update[col] = v
	}
	if len(update) > 0 {
		p.ops = append(p.ops, ovsdb.Operation{
			Op: ovsdb.OperationUpdate, Table: table, Row: update,
			Where: []ovsdb.Condition{uuidIs(uuidOf(cur))},
		})
	}
	return nil
}

func keepDaemonExternalIDs(table string, want, cur model.Model) {
	ids := externalIDsOf(want)
	for _, k := range daemonExternalIDs[table] {
		if v, ok := externalIDsOf(cur)[k]; ok {
			ids[k] = v
		}
	}
}

// ownsColumn: everything but _uuid, reference columns and daemon-written columns.
func ownsColumn(table string, ts *ovsdb.TableSchema, col string) bool {
	if col == "_uuid" || slices.Contains(readOnlyColumns[table], col) {
		return false
	}
	cs := ts.Column(col)
	return cs != nil && !isReference(cs)
}

func isReference(cs *ovsdb.ColumnSchema) bool {
	if cs.TypeObj == nil {
		return false
	}
	return refTable(cs.TypeObj.Key) != "" || refTable(cs.TypeObj.Value) != ""
}

func refTable(bt *ovsdb.BaseType) string {
	if bt == nil {
		return ""
	}
	t, err := bt.RefTable()
	if err != nil {
		return ""
	}
	return t
}

func (p *plan) insert(table string, r *Row) error {
	row := ovsdb.Row{}
	ts := p.schema(table)
	for _, col := range fieldsOf(r.Model).columns {
		if !ownsColumn(table, ts, col) {
			continue
		}
		v := field(r.Model, col)
		if v.IsZero() {
			continue
		}
		ov, err := ovsdb.NativeToOvs(ts.Column(col), v.Interface())
		if err != nil {
			return fmt.Errorf("%s %s column %s: %w", table, r.Key, col, err)
		}
		row[col] = ov
	}
	op := ovsdb.Operation{Op: ovsdb.OperationInsert, Table: table, Row: row}
	var id string
	if len(ts.Indexes) == 0 {
		// Tables without a unique index would silently take a second copy
		// of the row if two writers raced (or a timed-out transaction was
		// retried): the row's UUID is derived from its table and primary
		// key, so the database refuses a second insert ("duplicate uuid")
		// at the cost of a lookup, where a "wait" on external_ids would
		// scan the whole table.
		id = rowUUID(table, r.Key)
		op.UUID = id
	} else {
		id = "ovnet_row" + strconv.FormatInt(p.c.named.Add(1), 10)
		op.UUIDName = id
	}
	p.inserted[id] = len(p.ops)
	p.ops = append(p.ops, op)
	p.remember(table, r.Key, id)
	return nil
}

// rowUUID is the UUID of the row of table with primary key key: a
// name-based (SHA-1, version 5) UUID, the same for every writer.
func rowUUID(table, key string) string {
	return uuid.NewSHA1(rowUUIDSpace, []byte(table+"\x00"+key)).String()
}

// rowUUIDSpace is the namespace of rowUUID.
var rowUUIDSpace = uuid.MustParse("6f2b1c3e-5a0d-4b8e-9c71-0e6a4f3d2b10")

// link makes every parent of r list it.
func (p *plan) link(r *Row) error {
	table, _ := p.table(r.Model)
	child := p.uuids[table][r.Key]
	for _, parent := range r.Parents {
		puuid, pcur, err := p.resolveParent(parent)
		if err != nil {
			return fmt.Errorf("%s %s: %w", table, r.Key, err)
		}
		if pcur != nil && slices.Contains(refsOf(pcur, parent.Column), child) {
			continue
		}
		if i, ok := p.inserted[puuid]; ok {
			// A parent inserted by this plan lists the child from the start:
			// some columns may never be empty (OVS Port.interfaces).
			set, _ := p.ops[i].Row[parent.Column].(ovsdb.OvsSet)
			set.GoSet = append(set.GoSet, ovsdb.UUID{GoUUID: child})
			p.ops[i].Row[parent.Column] = set
			continue
		}
		p.ops = append(p.ops, ovsdb.Operation{
			Op: ovsdb.OperationMutate, Table: parent.Table,
			Where: []ovsdb.Condition{uuidIs(puuid)},
			Mutations: []ovsdb.Mutation{{
				Column: parent.Column, Mutator: ovsdb.MutateOperationInsert,
				Value: ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: child}}},
			}},
		})
	}
	return nil
}

// resolveParent finds a parent among this plan's rows, then in the cache.
// It returns the cached row too, when there is one.
func (p *plan) resolveParent(parent Parent) (string, model.Model, error) {
	if parent.Key != "" {
		uuid, planned := p.uuids[parent.Table][parent.Key]
		found := p.byKey(parent.Table, parent.Key)
		if len(found) > 0 {
			return uuidOf(found[0]), found[0], nil
		}
		if planned {
			return uuid, nil, nil
		}
		return "", nil, fmt.Errorf("%w: %s %s", ErrParentMissing, parent.Table, parent.Key)
	}
	rc := p.c.Cache().Table(parent.Table)
	if rc != nil {
		for uuid, m := range rc.RowsShallow() {
			if field(m, "name").String() == parent.Name {
				return uuid, m, nil
			}
		}
	}
	return "", nil, fmt.Errorf("%w: %s named %s", ErrParentMissing, parent.Table, parent.Name)
}

// refsOf returns the UUIDs listed in a reference column of m.
func refsOf(m model.Model, col string) []string {
	v := field(m, col)
	switch v.Kind() {
	case reflect.Slice:
		return v.Interface().([]string)
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return []string{v.Elem().String()}
	}
	return nil
}

// deleteUnwanted deletes the rows of owner that are not wanted (and second
// copies of wanted ones), first removing them from every row that refers to
// them.
func (p *plan) deleteUnwanted(owner Owner, wanted map[string]map[string]bool) {
	dbModel := p.c.Cache().DatabaseModel()
	tables := make([]string, 0, len(dbModel.Client().Types()))
	for t := range dbModel.Client().Types() {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	type doomed struct{ table, uuid string }
	var gone []doomed
	deleting := map[string]bool{}
	for _, table := range tables {
		if _, ok := fieldsOf(p.c.newModel(table)).byColumn["external_ids"]; !ok {
			continue
		}
		for _, m := range p.c.byExternalID(table, KeyOwnerUID, owner.UID) {
			ids := externalIDsOf(m)
			if !IsOwnedBy(ids, owner.UID) {
				continue
			}
			key := ids[KeyPrimary]
			if wanted[table][key] && p.uuids[table][key] == uuidOf(m) {
				continue
			}
			gone = append(gone, doomed{table, uuidOf(m)})
			deleting[uuidOf(m)] = true
		}
	}
	for _, d := range gone {
		p.unlink(d.table, d.uuid, deleting)
		p.ops = append(p.ops, ovsdb.Operation{
			Op: ovsdb.OperationDelete, Table: d.table, Where: []ovsdb.Condition{uuidIs(d.uuid)},
		})
	}
}

// unlink removes uuid from every cached reference column that lists it,
// except in rows that are deleted too (a row's last reference may not be
// removed from a column that must not be empty, such as OVS Port.interfaces).
func (p *plan) unlink(childTable, uuid string, deleting map[string]bool) {
	dbModel := p.c.Cache().DatabaseModel()
	for table := range dbModel.Client().Types() {
		ts := p.schema(table)
		for col, cs := range ts.Columns {
			if cs.TypeObj == nil || refTable(cs.TypeObj.Key) != childTable {
				continue
			}
			for puuid, m := range p.c.Cache().Table(table).RowsShallow() {
				if !deleting[puuid] && slices.Contains(refsOf(m, col), uuid) {
					p.ops = append(p.ops, ovsdb.Operation{
						Op: ovsdb.OperationMutate, Table: table, Where: []ovsdb.Condition{uuidIs(puuid)},
						Mutations: []ovsdb.Mutation{{
							Column: col, Mutator: ovsdb.MutateOperationDelete,
							Value: ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: uuid}}},
						}},
					})
				}
			}
		}
	}
}

func uuidIs(uuid string) ovsdb.Condition {
	return ovsdb.Condition{Column: "_uuid", Function: ovsdb.ConditionEqual, Value: ovsdb.UUID{GoUUID: uuid}}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
