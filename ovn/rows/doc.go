// Package rows says which OVN northbound rows each API kind becomes: one
// file per kind, pure functions from API objects (and what the controller
// resolved for them) to ovn.Row values, with no database access. The
// controllers hand the result to ovn.Client.Apply. docs/ovn-mapping.md lists
// the rows per kind, and docs/design.md the topology decisions behind them.
//
// Row names are readable in `ovn-nbctl show`: a Network's rows are named
// <namespace>/<name>, its router ports <namespace>/<name>/lr-ls and
// /lr-gw, a NetworkInterface's port <namespace>/<name> (also the OVS
// iface-id the node agent sets).
package rows
