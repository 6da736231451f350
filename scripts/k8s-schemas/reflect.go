package main

import (
	"encoding/json"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// reflector derives JSON schemas from the Go API types, for the kinds that have no OpenAPI
// document at hand (every built-in group but the few client-go embeds, and the CRDs whose Go
// types their projects publish). It knows field names and JSON types, not required fields.
type reflector struct {
	defs map[string]any
}

var (
	stringOrInteger = map[string]any{"oneOf": []any{
		map[string]any{"type": "string"}, map[string]any{"type": "integer"},
	}}
	stringOrNumber = map[string]any{"oneOf": []any{
		map[string]any{"type": "string"}, map[string]any{"type": "number"},
	}}
	specialTypes = map[reflect.Type]map[string]any{
		reflect.TypeFor[intstr.IntOrString]():   stringOrInteger,
		reflect.TypeFor[resource.Quantity]():    stringOrNumber,
		reflect.TypeFor[metav1.Time]():          {"type": []any{"string", "null"}},
		reflect.TypeFor[metav1.MicroTime]():     {"type": []any{"string", "null"}},
		reflect.TypeFor[metav1.Duration]():      {"type": "string"},
		reflect.TypeFor[runtime.RawExtension](): {},
		reflect.TypeFor[metav1.FieldsV1]():      {"type": "object"},
		reflect.TypeFor[runtime.Unknown]():      {},
	}
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
)

// kindSchema returns the standalone schema of one kind's Go type.
func kindSchema(t reflect.Type) map[string]any {
	r := &reflector{defs: map[string]any{}}
	root := r.structSchema(t)
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	if len(r.defs) > 0 {
		root["definitions"] = r.defs
	}
	return root
}

func defName(t reflect.Type) string {
	return strings.ReplaceAll(t.PkgPath(), "/", ".") + "." + t.Name()
}

func (r *reflector) schema(t reflect.Type) map[string]any {
	if s, ok := specialTypes[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := r.schema(t.Elem())
		return nullable(inner)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": []any{"string", "null"}} // base64
		}
		return map[string]any{"type": []any{"array", "null"}, "items": r.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{
			"type": []any{"object", "null"}, "additionalProperties": r.schema(t.Elem()),
		}
	case reflect.Struct:
		if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
			return map[string]any{} // custom JSON form: accept anything
		}
		name := defName(t)
		if _, done := r.defs[name]; !done {
			r.defs[name] = nil // placeholder: recursive types terminate
			r.defs[name] = r.structSchema(t)
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	default:
		return map[string]any{}
	}
}

func nullable(s map[string]any) map[string]any {
	if _, ok := s["$ref"]; ok {
		return map[string]any{"oneOf": []any{s, map[string]any{"type": "null"}}}
	}
	return s
}

func (r *reflector) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	r.fields(t, props)
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

func (r *reflector) fields(t reflect.Type, props map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if (f.Anonymous && name == "") || strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				r.fields(ft, props)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = r.schema(f.Type)
	}
}
