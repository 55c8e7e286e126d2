package sockets

import (
	"fmt"
	"reflect"

	"github.com/go-macaron/inject"
)

// injected is how many values the Macaron front injects: the receiver, the
// sender, the error, disconnect and done channels, and the *Connection.
const injected = 6

// connInjector is a Macaron context's injector once its connection is
// upgraded: the connection's values in an array of their own, in front of
// the context's injector, which keeps everything else (the context's own
// values, what later handlers map, Macaron's values behind it).
//
// Why not map them into the context, as the original did: the context's
// map holds Macaron's three values, and six more grow it past the eight
// entries a small Go map holds into a table of twice the size, left in use
// for as long as the connection lives (0.7 KB a connection, with the
// freed small map's room: bench/README.md, "Where an idle connection's
// bytes go"). Looked up first, by exact type, the connection's values are
// found as before; a value a later handler maps for one of their types
// replaces it, as in one map.
type connInjector struct {
	inject.Injector // the context's own
	types           [injected]reflect.Type
	vals            [injected]reflect.Value
	n               int
}

var _ inject.Injector = (*connInjector)(nil)

// index returns where t is in the array, or -1.
func (ci *connInjector) index(t reflect.Type) int {
	for i := range ci.n {
		if ci.types[i] == t {
			return i
		}
	}
	return -1
}

// add maps one of the connection's values to t, in the array.
func (ci *connInjector) add(t reflect.Type, val reflect.Value) {
	ci.types[ci.n], ci.vals[ci.n] = t, val
	ci.n++
}

// Map maps val to its type.
func (ci *connInjector) Map(val any) inject.TypeMapper {
	return ci.Set(reflect.TypeOf(val), reflect.ValueOf(val))
}

// MapTo maps val to the interface type ifacePtr points to.
func (ci *connInjector) MapTo(val any, ifacePtr any) inject.TypeMapper {
	return ci.Set(inject.InterfaceOf(ifacePtr), reflect.ValueOf(val))
}

// Set maps val to t: a later handler's value for one of the connection's
// types replaces it; any other goes to the context's injector.
func (ci *connInjector) Set(t reflect.Type, val reflect.Value) inject.TypeMapper {
	if i := ci.index(t); i >= 0 {
		ci.vals[i] = val
	} else {
		ci.Injector.Set(t, val)
	}
	return ci
}

// GetVal returns the value mapped to t: the connection's by exact type,
// then the context's injector's (its own, an implementor of an interface
// among them, its parent's), then one of the connection's values that
// implements the interface t.
func (ci *connInjector) GetVal(t reflect.Type) reflect.Value {
	if i := ci.index(t); i >= 0 {
		return ci.vals[i]
	}
	if v := ci.Injector.GetVal(t); v.IsValid() || t.Kind() != reflect.Interface {
		return v
	}
	for i := range ci.n {
		if ci.types[i].Implements(t) {
			return ci.vals[i]
		}
	}
	return reflect.Value{}
}

// Invoke calls f with its arguments looked up by type (GetVal), as the
// context's injector would: through f's own Invoke when f is an
// inject.FastInvoker (Macaron's wrappers of common handler types), by
// reflection otherwise. An argument nothing is mapped to is an error.
func (ci *connInjector) Invoke(f any) ([]reflect.Value, error) {
	t := reflect.TypeOf(f)
	if fast, ok := f.(inject.FastInvoker); ok {
		args := make([]any, t.NumIn())
		for i := range args {
			v, err := ci.arg(t.In(i))
			if err != nil {
				return nil, err
			}
			args[i] = v.Interface()
		}
		return fast.Invoke(args)
	}
	args := make([]reflect.Value, t.NumIn())
	for i := range args {
		v, err := ci.arg(t.In(i))
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return reflect.ValueOf(f).Call(args), nil
}

// arg returns the value mapped to t, or the error the context's injector
// gives for a type nothing is mapped to.
func (ci *connInjector) arg(t reflect.Type) (reflect.Value, error) {
	v := ci.GetVal(t)
	if !v.IsValid() {
		//lint:ignore ST1005 inject's own wording, which Macaron's panic shows
		return v, fmt.Errorf("Value not found for type %v", t)
	}
	return v, nil
}

// Apply sets each field of the struct val points to that is tagged
// `inject` to the value mapped to its type.
func (ci *connInjector) Apply(val any) error {
	v := reflect.ValueOf(val)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !f.CanSet() || (sf.Tag != "inject" && sf.Tag.Get("inject") == "") {
			continue
		}
		mapped, err := ci.arg(f.Type())
		if err != nil {
			return err
		}
		f.Set(mapped)
	}
	return nil
}
