// Command k8s-schemas writes kubeconform-style "standalone-strict" JSON schemas, offline, for the
// built-in Kubernetes kinds and for the CRDs the chart renders (Prometheus Operator, KEDA):
//
//   - from the OpenAPI v3 documents that k8s.io/client-go embeds (openapi/openapitest) for the
//     groups it carries (core, apps, batch, ...): the API server's own schemas;
//   - for every other kind, from its Go type (reflect.go): client-go's scheme for the built-in
//     groups, and the API packages that prometheus-operator and KEDA publish for their CRDs.
//
// The versions follow go.mod.
//
// Usage: go run . OUTDIR
//
// Files are named like kubeconform's default location, {{ .ResourceKind }}{{ .KindSuffix }}.json
// (deployment-apps-v1.json, service-v1.json). Each file holds the kind's schema with the
// definitions it reaches under "definitions"; "strict" means additionalProperties: false on every
// object that lists its properties, so a misspelled field fails validation.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/openapi/openapitest"
)

const refPrefix = "#/components/schemas/"

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-schemas OUTDIR")
		os.Exit(2)
	}
	out := os.Args[1]
	if err := os.MkdirAll(out, 0o755); err != nil {
		fail(err)
	}
	written := 0
	crds := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		monitoringv1.AddToScheme, kedav1alpha1.AddToScheme,
	} {
		if err := add(crds); err != nil {
			fail(err)
		}
	}
	for _, s := range []*runtime.Scheme{scheme.Scheme, crds} {
		for k, t := range s.AllKnownTypes() {
			if k.Version == runtime.APIVersionInternal {
				continue
			}
			if err := writeSchema(out, k.Group, k.Version, k.Kind, kindSchema(t)); err != nil {
				fail(err)
			}
			written++
		}
	}
	paths, err := openapitest.NewEmbeddedFileClient().Paths()
	if err != nil {
		fail(err)
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, path := range keys {
		raw, err := paths[path].Schema("application/json")
		if err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
		var doc struct {
			Components struct {
				Schemas map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
		group, version := groupVersion(path)
		n, err := writeKinds(out, group, version, doc.Components.Schemas)
		if err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
		written += n
	}
	fmt.Fprintf(os.Stderr, "k8s-schemas: wrote %d schemas to %s\n", written, out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "k8s-schemas:", err)
	os.Exit(1)
}

// groupVersion maps "api/v1" to ("", "v1") and "apis/apps/v1" to ("apps", "v1").
func groupVersion(path string) (string, string) {
	parts := strings.Split(path, "/")
	if len(parts) == 2 {
		return "", parts[1]
	}
	return parts[1], parts[2]
}

func writeKinds(out, group, version string, schemas map[string]any) (int, error) {
	n := 0
	for name, s := range schemas {
		schema, ok := s.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range kinds(schema) {
			if k.Group != group || k.Version != version {
				continue
			}
			if err := writeSchema(out, group, version, k.Kind, standalone(name, schemas)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func writeSchema(out, group, version, kind string, doc map[string]any) error {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	file := filepath.Join(out, strings.ToLower(kind)+kindSuffix(group, version)+".json")
	return os.WriteFile(file, data, 0o644)
}

// kindSuffix is kubeconform's: "-v1" for the core group, else "-<first group label>-<version>".
func kindSuffix(group, version string) string {
	if group == "" {
		return "-" + version
	}
	return "-" + strings.ToLower(strings.Split(group, ".")[0]) + "-" + version
}

func kinds(schema map[string]any) []gvk {
	raw, ok := schema["x-kubernetes-group-version-kind"]
	if !ok {
		return nil
	}
	data, _ := json.Marshal(raw)
	var out []gvk
	_ = json.Unmarshal(data, &out)
	return out
}

// standalone builds the schema of one kind plus every definition it reaches.
func standalone(root string, schemas map[string]any) map[string]any {
	defs := map[string]any{}
	var visit func(name string)
	visit = func(name string) {
		if _, done := defs[name]; done {
			return
		}
		defs[name] = nil // placeholder: recursive types terminate
		converted := convert(schemas[name], func(ref string) { visit(ref) })
		defs[name] = special(name, converted)
	}
	visit(root)
	doc, _ := defs[root].(map[string]any)
	out := map[string]any{}
	for k, v := range doc {
		out[k] = v
	}
	delete(defs, root)
	if len(defs) > 0 {
		out["definitions"] = defs
	}
	// The root may be referenced by itself (never by built-in kinds, but keep it valid).
	out["$schema"] = "http://json-schema.org/draft-07/schema#"
	return out
}

// special replaces the schemas that the Kubernetes API accepts in two JSON types.
func special(name string, schema any) any {
	switch name {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "string"}, map[string]any{"type": "integer"},
		}}
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "string"}, map[string]any{"type": "number"},
		}}
	}
	return schema
}

// convert rewrites an OpenAPI v3 schema to JSON Schema draft 7: component refs become
// definitions refs, nullable becomes a "null" type, int-or-string fields take both types, and
// objects that list their properties allow no others (strict).
func convert(node any, onRef func(string)) any {
	switch v := node.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range v {
			switch k {
			case "$ref":
				ref, _ := val.(string)
				if strings.HasPrefix(ref, refPrefix) {
					name := strings.TrimPrefix(ref, refPrefix)
					onRef(name)
					out[k] = "#/definitions/" + name
				} else {
					out[k] = val
				}
			case "properties", "patternProperties", "definitions":
				// Maps of names to schemas: convert the schemas, not the names.
				props := map[string]any{}
				if m, ok := val.(map[string]any); ok {
					for name, sub := range m {
						props[name] = convert(sub, onRef)
					}
				}
				out[k] = props
			case "nullable", "exclusiveMinimum", "exclusiveMaximum":
				// handled below
			default:
				out[k] = convert(val, onRef)
			}
		}
		if v["x-kubernetes-int-or-string"] == true {
			delete(out, "type")
			delete(out, "format")
			out["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
		}
		if v["nullable"] == true {
			if t, ok := out["type"].(string); ok {
				out["type"] = []any{t, "null"}
			}
		}
		if _, ok := out["properties"]; ok {
			if _, has := out["additionalProperties"]; !has {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = convert(item, onRef)
		}
		return out
	default:
		return v
	}
}
