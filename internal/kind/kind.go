// Package kind decides, in one place, how the values of a Go type travel in
// WebSocket messages, for both fronts of package sockets and for package
// hub: by the type's kind, as the original go-macaron/sockets decided for
// JSON(v).
package kind

import (
	"reflect"
	"unsafe"
)

// Kind is how a type's values go on the wire.
type Kind int

const (
	// Text: a type of string kind (string or a named string type); each
	// value is one text frame of its bytes, as they are.
	Text Kind = iota
	// Binary: a slice of bytes ([]byte or a named type of it); each value
	// is one binary frame of its bytes, as they are.
	Binary
	// JSON: any other type; each value is one text frame of its JSON
	// encoding.
	JSON
)

// Of returns the kind of t's values.
func Of(t reflect.Type) Kind {
	switch {
	case t.Kind() == reflect.String:
		return Text
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return Binary
	}
	return JSON
}

// For returns the kind of T's values.
func For[T any]() Kind { return Of(reflect.TypeFor[T]()) }

// String returns the string a value of a Text type holds, without copying.
// T must be of string kind.
func String[T any](v T) string { return *(*string)(unsafe.Pointer(&v)) }

// FromString returns s as a T of string kind.
func FromString[T any](s string) T { return *(*T)(unsafe.Pointer(&s)) }

// Bytes returns the slice a value of a Binary type holds, without copying.
// T must be a slice of bytes.
func Bytes[T any](v T) []byte { return *(*[]byte)(unsafe.Pointer(&v)) }

// FromBytes returns b as a T that is a slice of bytes.
func FromBytes[T any](b []byte) T { return *(*T)(unsafe.Pointer(&b)) }

// Decode makes the T that the payload p carries, by T's kind k: a string
// of p, a copy of p (never nil), or what decode makes of p in a new T (for
// a pointer T, in a new element, so that "null" gives a pointer to the
// zero value, as JSON(T{}) decoded into a new *T).
func Decode[T any](k Kind, p []byte, decode func([]byte, any) error) (T, error) {
	switch k {
	case Text:
		return FromString[T](string(p)), nil
	case Binary:
		return FromBytes[T](append(make([]byte, 0, len(p)), p...)), nil
	}
	var v T
	target := any(&v)
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Pointer {
		v = reflect.New(t.Elem()).Interface().(T)
		target = v
	}
	return v, decode(p, target)
}

// Append appends the payload of v to dst, by T's kind k: a Text or Binary
// value's bytes as they are, or for JSON what encode appends.
func Append[T any](k Kind, dst []byte, v T, encode func([]byte, any) ([]byte, error)) ([]byte, error) {
	switch k {
	case Text:
		return append(dst, String(v)...), nil
	case Binary:
		return append(dst, Bytes(v)...), nil
	}
	return encode(dst, v)
}
