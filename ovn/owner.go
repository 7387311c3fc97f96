package ovn

import (
	"fmt"
	"maps"
	"slices"
)

// Ownership keys carried in external_ids of every row ovnet writes
// (docs/ovn-mapping.md lists them per kind).
const (
	// KeyManagedBy marks a row as ovnet's; garbage collection trusts only this key.
	KeyManagedBy = "apinet.ironcore.dev/managed-by"
	// ManagedByValue is the value of KeyManagedBy.
	ManagedByValue = "ovnet"

	KeyOwnerKind      = "apinet.ironcore.dev/owner-kind"
	KeyOwnerNamespace = "apinet.ironcore.dev/owner-namespace"
	KeyOwnerName      = "apinet.ironcore.dev/owner-name"
	KeyOwnerUID       = "apinet.ironcore.dev/owner-uid"

	// KeyPrimary is the row's stable primary key, unique within its table;
	// a client-side index makes lookups by it cheap.
	KeyPrimary = "apinet.ironcore.dev/key"
)

// Owner is the API object a set of rows belongs to.
type Owner struct {
	Kind      string
	Namespace string
	Name      string
	UID       string
}

func (o Owner) String() string {
	if o.Namespace == "" {
		return fmt.Sprintf("%s %s (%s)", o.Kind, o.Name, o.UID)
	}
	return fmt.Sprintf("%s %s/%s (%s)", o.Kind, o.Namespace, o.Name, o.UID)
}

// ExternalIDs returns the ownership keys of a row with primary key key,
// merged over extra (ownership keys win).
func (o Owner) ExternalIDs(key string, extra map[string]string) map[string]string {
	ids := make(map[string]string, len(extra)+6)
	maps.Copy(ids, extra)
	ids[KeyManagedBy] = ManagedByValue
	ids[KeyOwnerKind] = o.Kind
	ids[KeyOwnerName] = o.Name
	ids[KeyOwnerUID] = o.UID
	ids[KeyPrimary] = key
	if o.Namespace != "" {
		ids[KeyOwnerNamespace] = o.Namespace
	}
	return ids
}

// IsManaged reports whether external_ids mark a row as ovnet's.
func IsManaged(externalIDs map[string]string) bool {
	return externalIDs[KeyManagedBy] == ManagedByValue
}

// IsOwnedBy reports whether external_ids mark a row as ovnet's and owned by uid.
func IsOwnedBy(externalIDs map[string]string, uid string) bool {
	return IsManaged(externalIDs) && uid != "" && externalIDs[KeyOwnerUID] == uid
}

// OwnerOf reads the owner from a managed row's external_ids.
func OwnerOf(externalIDs map[string]string) (Owner, bool) {
	if !IsManaged(externalIDs) || externalIDs[KeyOwnerUID] == "" {
		return Owner{}, false
	}
	return Owner{
		Kind:      externalIDs[KeyOwnerKind],
		Namespace: externalIDs[KeyOwnerNamespace],
		Name:      externalIDs[KeyOwnerName],
		UID:       externalIDs[KeyOwnerUID],
	}, true
}

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
