package ovn

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/ovn-kubernetes/libovsdb/model"
)

// modelFields maps the ovsdb column names of a generated model type to its
// struct fields; computed once per type.
type modelFields struct {
	byColumn map[string]int
	columns  []string
}

var fieldCache sync.Map // reflect.Type -> *modelFields

func fieldsOf(m model.Model) *modelFields {
	t := reflect.TypeOf(m).Elem()
	if f, ok := fieldCache.Load(t); ok {
		return f.(*modelFields)
	}
	f := &modelFields{byColumn: map[string]int{}}
	for i := range t.NumField() {
		col := t.Field(i).Tag.Get("ovsdb")
		if col == "" {
			continue
		}
		f.byColumn[col] = i
		f.columns = append(f.columns, col)
	}
	fieldCache.Store(t, f)
	return f
}

// field returns the addressable value of column col of model m.
func field(m model.Model, col string) reflect.Value {
	i, ok := fieldsOf(m).byColumn[col]
	if !ok {
		panic(fmt.Sprintf("model %T has no column %q", m, col))
	}
	return reflect.ValueOf(m).Elem().Field(i)
}

func uuidOf(m model.Model) string { return field(m, "_uuid").String() }

func externalIDsOf(m model.Model) map[string]string {
	return field(m, "external_ids").Interface().(map[string]string)
}

func setExternalIDs(m model.Model, ids map[string]string) {
	field(m, "external_ids").Set(reflect.ValueOf(ids))
}

// equalColumn compares one column of two models with OVSDB semantics: sets
// are unordered, an empty set or map equals a missing one, optional values
// (pointers) compare by what they point to.
func equalColumn(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		if a.Len() == 0 {
			return true
		}
		as, bs := sortedStrings(a), sortedStrings(b)
		return slices.Equal(as, bs)
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !reflect.DeepEqual(a.MapIndex(k).Interface(), bv.Interface()) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return reflect.DeepEqual(a.Elem().Interface(), b.Elem().Interface())
	default:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
}

func sortedStrings(v reflect.Value) []string {
	out := make([]string, v.Len())
	for i := range out {
		out[i] = fmt.Sprint(v.Index(i).Interface())
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
