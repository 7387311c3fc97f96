package ipam

import (
	"reflect"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// equalSpec compares the spec field of two objects of one kind.
func equalSpec(a, b client.Object) bool {
	return reflect.DeepEqual(reflect.ValueOf(a).Elem().FieldByName("Spec").Interface(),
		reflect.ValueOf(b).Elem().FieldByName("Spec").Interface())
}
